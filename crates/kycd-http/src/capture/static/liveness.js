/* kycd capture pages: the head-turn liveness step. Asks the server for a challenge (two
   directions in a random order, with a deadline), prompts the person through it while
   recording frames, and posts them as one burst. The frames are drawn from the camera's
   own picture, unmirrored (the preview is mirrored by CSS only), as the check expects.
   Words and addresses come from the data- attributes of #liveness (the page's language).
   The camera itself is camera.js's (kycdCamera), loaded before this file.
   Without a camera or this script the step cannot be done here: the page says so and
   offers to continue on a phone. */
(function () {
  "use strict";

  var root = document.getElementById("liveness");
  var media = navigator.mediaDevices;
  var camera = window.kycdCamera;
  if (!root || !camera || !media || typeof media.getUserMedia !== "function" || !window.fetch || !window.FormData) {
    return;
  }
  var words = root.dataset;
  var video = document.getElementById("liveness-video");
  var start = document.getElementById("liveness-start");
  var prompt = document.getElementById("liveness-prompt");
  var problem = document.getElementById("liveness-problem");
  var nocamera = document.getElementById("liveness-nocamera");

  /* The timeline of one challenge: the face at the centre, then per step the turn and
     the way back. A frame every FRAME_MS: about 26 frames in 6.5 s (the server takes 10
     to 40). */
  var CENTRE_MS = 750;
  var TURN_MS = 1750;
  var BACK_MS = 1250;
  var FRAME_MS = 250;
  var JPEG_QUALITY = 0.85;
  var MIN_LONG = 640;
  var MIN_SHORT = 480;
  var busy = false;

  function say(text) {
    prompt.textContent = text || "";
  }

  function showProblem(text) {
    problem.querySelector("p").textContent = text;
    problem.hidden = false;
  }

  function fail(text) {
    busy = false;
    say("");
    root.removeAttribute("data-step");
    showProblem(text || words.failed);
    start.disabled = false;
    start.focus();
  }

  function grab() {
    return new Promise(function (resolve) {
      camera.frame(video).toBlob(resolve, "image/jpeg", JPEG_QUALITY);
    });
  }

  /* Record while the prompts run; resolves with the frames' blobs in order. */
  function record(steps) {
    var phases = [{ text: words.centre, ms: CENTRE_MS, step: "centre" }];
    steps.forEach(function (s) {
      phases.push({ text: words[s], ms: TURN_MS, step: s });
      phases.push({ text: words.centre, ms: BACK_MS, step: "centre" });
    });
    var total = phases.reduce(function (a, p) {
      return a + p.ms;
    }, 0);
    var frames = [];
    var began = Date.now();
    return new Promise(function (resolve) {
      function tick() {
        var t = Date.now() - began;
        if (t >= total) {
          /* A frame the browser could not encode (toBlob gave null) is left out. */
          Promise.all(frames).then(function (blobs) {
            resolve(blobs.filter(Boolean));
          });
          return;
        }
        var at = 0;
        for (var i = 0; i < phases.length; i += 1) {
          at += phases[i].ms;
          if (t < at) {
            if (root.getAttribute("data-step") !== phases[i].step) {
              root.setAttribute("data-step", phases[i].step);
              say(phases[i].text);
            }
            break;
          }
        }
        frames.push(grab());
        window.setTimeout(tick, FRAME_MS);
      }
      tick();
    });
  }

  /* The problem text of a page the server answered instead of the next step. */
  function problemOf(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var n = doc.querySelector(".notice.problem");
    return n ? n.textContent.trim() : "";
  }

  function send(challenge, blobs) {
    var form = new FormData();
    form.append("csrf", words.csrf);
    form.append("challenge_id", challenge.challenge_id);
    blobs.forEach(function (b, i) {
      form.append("file", b, "frame-" + i + ".jpg");
    });
    say(words.sending);
    return fetch(words.action, { method: "POST", body: form, credentials: "same-origin" }).then(function (res) {
      if (res.ok && res.redirected) {
        window.location.assign(res.url);
        return;
      }
      return res.text().then(function (html) {
        fail(problemOf(html));
      });
    });
  }

  function run() {
    if (busy) {
      return;
    }
    busy = true;
    start.disabled = true;
    problem.hidden = true;
    var body = new URLSearchParams();
    body.append("csrf", words.csrf);
    fetch(words.challenge, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) {
          throw new Error("challenge " + res.status);
        }
        return res.json();
      })
      .then(function (challenge) {
        return record(challenge.steps).then(function (blobs) {
          root.removeAttribute("data-step");
          return send(challenge, blobs);
        });
      })
      .catch(function () {
        fail(words.failed);
      });
  }

  camera
    .open("user", 640, 480)
    .then(function (stream) {
      video.srcObject = stream;
      root.hidden = false;
      nocamera.hidden = true;
      function ready() {
        if (video.videoWidth === 0) {
          window.setTimeout(ready, 100);
          return;
        }
        var long = Math.max(video.videoWidth, video.videoHeight);
        var short = Math.min(video.videoWidth, video.videoHeight);
        if (long < MIN_LONG || short < MIN_SHORT) {
          showProblem(words.small);
          return;
        }
        say(words.ready);
        start.disabled = false;
      }
      ready();
    })
    .catch(function () {
      /* No camera, or it was refused: the page's own words (continue on a phone) stay. */
      root.hidden = true;
    });
  start.addEventListener("click", run);
})();
