// In a booking page shown inside another website's iframe (static/js/embed.js): tells the
// embedding page how tall this page is, on load and whenever its height changes, so the iframe
// grows and shrinks with it instead of scrolling inside the other site. Only the height is
// sent, so "*" as the target origin reveals nothing; embed.js checks where messages come from.
(function () {
  "use strict";

  if (window.parent === window) return; // not framed
  let last = 0;
  function post() {
    // The body, not the document: the document is at least as tall as the iframe already is,
    // so it could never shrink.
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: "scheduler:height", height }, "*");
  }
  post();
  window.addEventListener("load", post);
  if ("ResizeObserver" in window) new ResizeObserver(post).observe(document.body);
  else window.addEventListener("resize", post);
})();
