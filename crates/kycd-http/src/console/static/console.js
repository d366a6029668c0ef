// The review console's only script (progressive enhancement: every action is a plain
// form without it). Zoom and rotate the images; keyboard shortcuts A (approve),
// D (decline), R (request a new capture) move focus to that decision's reason list, and
// N opens the next case. Shortcuts never submit: the reviewer confirms with Enter.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("figure.viewer").forEach(function (fig) {
    var img = fig.querySelector("img.shot");
    if (!img) return;
    var turn = 0;
    fig.querySelectorAll("button[data-act]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (b.dataset.act === "zoom") {
          img.classList.toggle("zoomed");
          b.setAttribute("aria-pressed", img.classList.contains("zoomed") ? "true" : "false");
        } else {
          img.classList.remove("rot" + turn);
          turn = (turn + 1) % 4;
          if (turn) img.classList.add("rot" + turn);
        }
      });
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    var key = (e.key || "").toLowerCase();
    var target = document.querySelector("[data-shortcut='" + key + "']");
    if (!target) return;
    e.preventDefault();
    if (target.tagName === "A") {
      window.location.href = target.href;
      return;
    }
    var select = target.querySelector("select");
    target.scrollIntoView({ block: "center" });
    if (select) select.focus();
  });
});
