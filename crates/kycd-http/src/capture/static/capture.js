/* kycd capture pages: live camera on the capture steps. Progressive enhancement: the page
   works without this file through its file field, which stays visible whatever happens
   here. Served from the binary (CSP script-src 'self'); no build step, no framework. Its
   words come from the data- attributes of #camera (the page's language).

   A picture taken here is put into the page's own file field and the form is posted as
   it is, so the server sees exactly what a file upload sends. The camera itself is
   camera.js's (kycdCamera), loaded before this file. */
(function () {
  "use strict";

  var root = document.getElementById("camera");
  var form = document.getElementById("upload-form");
  var input = document.getElementById("file");
  var media = navigator.mediaDevices;
  var camera = window.kycdCamera;
  if (!root || !form || !input || !camera || !media || typeof media.getUserMedia !== "function") {
    return;
  }

  var words = root.dataset;
  var viewer = document.getElementById("camera-viewer");
  var video = document.getElementById("camera-video");
  var take = document.getElementById("camera-take");
  var retry = document.getElementById("camera-retry");
  var status = document.getElementById("camera-status");
  var problem = document.getElementById("camera-problem");
  var uploadHeading = document.getElementById("upload-heading");
  var stream = null;
  var sending = false;
  /* Each start gets a number; callbacks of an older start do nothing. */
  var run = 0;
  /* After "try again" (a keyboard user's focus was on that button): focus "take". */
  var focusTake = false;

  /* A frame is "black" when its mean brightness is under DARK_MEAN and no sampled pixel
     is brighter than DARK_MAX (0..255): a covered lens or a camera that delivers nothing. */
  var DARK_MEAN = 16;
  var DARK_MAX = 40;
  /* How long a camera may show only black frames after starting (they often start
     dark), and how long it may take to deliver its first frame at all. */
  var DARK_GRACE_MS = 3000;
  var FIRST_FRAME_MS = 10000;
  var JPEG_QUALITY = 0.92;

  function say(text) {
    status.textContent = text || "";
  }

  function stop() {
    camera.stop(stream);
    stream = null;
    video.srcObject = null;
  }

  /* The camera cannot be used: say why, keep the file field, offer to try again. */
  function fail(text) {
    run += 1;
    stop();
    viewer.hidden = true;
    take.hidden = true;
    take.disabled = true;
    say("");
    status.hidden = true;
    problem.querySelector("p").textContent = text;
    problem.hidden = false;
    retry.hidden = false;
    root.setAttribute("data-state", "failed");
  }

  function errorText(err) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "PermissionDeniedError":
      case "SecurityError":
        return words.denied;
      case "NotFoundError":
      case "DevicesNotFoundError":
      case "OverconstrainedError":
      case "ConstraintNotSatisfiedError":
        return words.missing;
      case "NotReadableError":
      case "TrackStartError":
      case "AbortError":
        return words.busy;
      default:
        return words.failed;
    }
  }

  /* Whether the image on `canvas` is all dark (sampled on a small copy). */
  function isDark(source, width, height) {
    var w = 48;
    var h = Math.max(1, Math.round((w * height) / width));
    var small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    var ctx = small.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(source, 0, 0, w, h);
    var px = ctx.getImageData(0, 0, w, h).data;
    var sum = 0;
    var max = 0;
    for (var i = 0; i < px.length; i += 4) {
      var y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += y;
      if (y > max) {
        max = y;
      }
    }
    return sum / (px.length / 4) < DARK_MEAN && max < DARK_MAX;
  }

  function hasFrame() {
    return video.readyState >= 2 && video.videoWidth > 0 && video.videoHeight > 0;
  }

  /* Wait for the first frames, then for one that is not black (within the grace time). */
  var firstFrameAt = 0;
  function watch(mine, startedAt) {
    if (mine !== run) {
      return;
    }
    if (hasFrame() && !isDark(video, video.videoWidth, video.videoHeight)) {
      take.disabled = false;
      if (focusTake) {
        focusTake = false;
        take.focus();
      }
      say(words.ready);
      root.setAttribute("data-state", "ready");
      return;
    }
    if (!hasFrame()) {
      if (Date.now() - startedAt > FIRST_FRAME_MS) {
        fail(words.failed);
        return;
      }
    } else if (firstFrameAt === 0) {
      firstFrameAt = Date.now();
    } else if (Date.now() - firstFrameAt > DARK_GRACE_MS) {
      fail(words.dark);
      return;
    }
    window.setTimeout(function () {
      watch(mine, startedAt);
    }, 200);
  }

  function start() {
    run += 1;
    var mine = run;
    stop();
    sending = false;
    problem.hidden = true;
    retry.hidden = true;
    viewer.hidden = false;
    status.hidden = false;
    take.hidden = false;
    take.disabled = true;
    root.setAttribute("data-state", "starting");
    firstFrameAt = 0;
    say(words.starting);
    camera
      .open(words.facing, 1920, 1080)
      .then(function (s) {
        if (mine !== run) {
          camera.stop(s);
          return;
        }
        stream = s;
        s.getVideoTracks().forEach(function (t) {
          t.addEventListener("ended", function () {
            if (mine === run && !sending) {
              fail(words.failed);
            }
          });
        });
        video.srcObject = s;
        var played = video.play();
        if (played && typeof played.catch === "function") {
          played.catch(function () {
            /* autoplay refused: frames still arrive for muted, playsinline video */
          });
        }
        watch(mine, Date.now());
      })
      .catch(function (err) {
        if (mine === run) {
          fail(errorText(err));
        }
      });
  }

  /* Post the picture as the page's file field. */
  function send(blob) {
    var file = new File([blob], "camera.jpg", { type: "image/jpeg" });
    var placed = false;
    try {
      var dt = new DataTransfer();
      dt.items.add(file);
      input.files = dt.files;
      placed = input.files && input.files.length === 1;
    } catch (e) {
      placed = false;
    }
    run += 1;
    stop();
    if (placed) {
      form.submit();
      return;
    }
    /* No DataTransfer (old browsers): the same form, sent with fetch. */
    var data = new FormData(form);
    data.set("file", file, "camera.jpg");
    window
      .fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) {
        window.location.assign(r.redirected ? r.url : form.action);
      })
      .catch(function () {
        sending = false;
        fail(words.failed);
      });
  }

  take.addEventListener("click", function () {
    if (sending || !hasFrame()) {
      return;
    }
    var canvas = camera.frame(video);
    if (isDark(canvas, canvas.width, canvas.height)) {
      problem.querySelector("p").textContent = words.dark;
      problem.hidden = false;
      return;
    }
    sending = true;
    take.disabled = true;
    problem.hidden = true;
    say(words.sending);
    root.setAttribute("data-state", "sending");
    canvas.toBlob(
      function (blob) {
        if (!blob) {
          sending = false;
          fail(words.failed);
          return;
        }
        send(blob);
      },
      "image/jpeg",
      JPEG_QUALITY
    );
  });

  retry.addEventListener("click", function () {
    focusTake = true;
    start();
    status.focus();
  });

  /* The camera goes off when the person leaves; back/forward cache brings the page back. */
  window.addEventListener("pagehide", function () {
    run += 1;
    stop();
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) {
      start();
    }
  });

  root.hidden = false;
  uploadHeading.hidden = false;
  start();
})();
