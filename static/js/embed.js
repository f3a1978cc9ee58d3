// The embed snippet's script, loaded by other websites (bookings/embedding.py writes the
// snippet):
//
//   <div data-scheduler-embed="https://book.example.com/intro-call/" data-mode="inline"
//     data-label="Book a time"><a href="...">Book a time</a></div>
//   (popup: data-mode="popup", and data-close-label for its dialog's close button)
//   <script src="https://book.example.com/static/js/embed.js" async></script>
//
// inline: the booking page in an iframe in place of the <div>, as tall as the page says it is
// (static/js/embed-frame.js posts its height). popup: a button opening the page in a modal
// <dialog>. No dependencies, no inline styles or scripts (styles are set through the CSSOM,
// which a strict Content-Security-Policy on the host page allows), nothing but this file
// needed from our origin. Heights are taken only from our own frame's window at our origin.
(function () {
  "use strict";

  const MIN_HEIGHT = 320;
  const MAX_HEIGHT = 20000;
  const frames = new Map(); // iframe contentWindow -> {frame, origin}

  function frameUrl(address) {
    const url = new URL(address, document.baseURI);
    url.searchParams.set("embed", "1");
    return url;
  }

  function makeFrame(url, title) {
    const frame = document.createElement("iframe");
    frame.src = url.href;
    frame.title = title;
    frame.loading = "lazy";
    frame.setAttribute("width", "100%");
    frame.style.width = "100%";
    frame.style.border = "none";
    frame.style.display = "block";
    frame.style.height = "700px"; // until the page says how tall it is
    return frame;
  }

  function track(frame, origin) {
    // contentWindow exists once the iframe is in the document.
    frames.set(frame.contentWindow, { frame, origin });
  }

  window.addEventListener("message", (event) => {
    const entry = frames.get(event.source);
    if (!entry || event.origin !== entry.origin) return;
    const data = event.data;
    if (!data || data.type !== "scheduler:height") return;
    const height = Number(data.height);
    if (!Number.isFinite(height)) return;
    const clamped = Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, Math.ceil(height)));
    entry.frame.style.height = `${clamped}px`;
  });

  function inline(host, url, label) {
    const frame = makeFrame(url, label);
    host.textContent = "";
    host.appendChild(frame);
    track(frame, url.origin);
  }

  function popup(host, url, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.setAttribute("aria-haspopup", "dialog");

    const dialog = document.createElement("dialog");
    dialog.setAttribute("aria-label", label);
    Object.assign(dialog.style, {
      width: "min(48rem, calc(100vw - 2rem))",
      maxWidth: "none",
      maxHeight: "calc(100vh - 2rem)",
      padding: "0",
      border: "none",
      borderRadius: "8px",
      overflow: "auto",
      boxShadow: "0 10px 40px rgba(0, 0, 0, 0.35)",
    });
    const bar = document.createElement("div");
    Object.assign(bar.style, {
      display: "flex",
      justifyContent: "flex-end",
      position: "sticky",
      top: "0",
      padding: "8px",
      background: "#fff",
    });
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = (host.dataset.closeLabel || "").trim() || "Close";
    bar.appendChild(close);
    close.addEventListener("click", () => dialog.close());
    dialog.appendChild(bar);
    // Escape closes a modal <dialog> by itself; a click on the backdrop (the dialog element
    // itself, outside its content) closes it too.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
    dialog.addEventListener("close", () => button.focus());

    let frame = null;
    button.addEventListener("click", () => {
      if (!frame) {
        // Loaded on first opening, not with the host page.
        frame = makeFrame(url, label);
        frame.loading = "eager";
        dialog.appendChild(frame);
        track(frame, url.origin);
      }
      dialog.showModal();
      close.focus();
    });

    host.textContent = "";
    host.append(button, dialog);
  }

  function start(host) {
    if (host.dataset.schedulerReady) return;
    let url;
    try {
      url = frameUrl(host.dataset.schedulerEmbed || "");
    } catch (e) {
      return; // not an address: leave the snippet's link as it is
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") return;
    host.dataset.schedulerReady = "1";
    const label = (host.dataset.label || "").trim() || "Book a time";
    if (host.dataset.mode === "popup") popup(host, url, label);
    else inline(host, url, label);
  }

  function startAll() {
    document.querySelectorAll("[data-scheduler-embed]").forEach(start);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
