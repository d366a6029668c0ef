/* kycd capture pages: the camera, as the capture steps (capture.js) and the liveness step
   (liveness.js) both use it. Loaded before either (both `defer`, so in order); served from
   the binary like them (CSP script-src 'self'). Each page script checks on its own that
   the browser has what it needs before it calls these. */
var kycdCamera = (function () {
  "use strict";

  return {
    /* Start the camera that faces `facing` ("user" or "environment"), asking for about
       `width` × `height`; a promise of its stream. */
    open: function (facing, width, height) {
      return navigator.mediaDevices.getUserMedia({
        audio: false,
        video: {
          facingMode: { ideal: facing },
          width: { ideal: width },
          height: { ideal: height },
        },
      });
    },

    /* Turn the camera off. */
    stop: function (stream) {
      if (stream) {
        stream.getTracks().forEach(function (t) {
          t.stop();
        });
      }
    },

    /* The video's current picture, on a canvas of its own size: the camera's own picture,
       unmirrored (a preview is mirrored by CSS only). */
    frame: function (video) {
      var w = video.videoWidth;
      var h = video.videoHeight;
      var canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = h;
      canvas.getContext("2d").drawImage(video, 0, 0, w, h);
      return canvas;
    },
  };
})();
