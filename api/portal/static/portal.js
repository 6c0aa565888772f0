// recstore portal: progressive enhancement only; every page works without this file.
// Export with progress: stream the ZIP with fetch, show bytes against the expected size,
// then hand the finished file to the browser. Without JavaScript the link downloads directly.
"use strict";
// On a phone the recording filters start folded (unless a filter is in use).
(function () {
  const box = document.getElementById("filter-box");
  if (box && !box.hasAttribute("data-filtered") && window.matchMedia("(max-width: 640px)").matches) {
    box.open = false;
  }
})();
(function () {
  const link = document.getElementById("export-link");
  if (!link || !window.fetch || !window.ReadableStream) return;
  link.addEventListener("click", async function (event) {
    event.preventDefault();
    const box = document.getElementById("export-progress");
    const bar = document.getElementById("export-bar");
    const status = document.getElementById("export-status");
    const expected = Math.max(Number(link.dataset.expectedBytes) || 0, 1);
    box.hidden = false;
    link.setAttribute("aria-disabled", "true");
    try {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const reader = response.body.getReader();
      const parts = [];
      let received = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        received += value.length;
        bar.value = Math.min(99, Math.round((received / expected) * 100));
        status.textContent = (received / 1e6).toFixed(1) + " MB";
      }
      bar.value = 100;
      const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const url = URL.createObjectURL(new Blob(parts, { type: "application/zip" }));
      const save = document.createElement("a");
      save.href = url;
      save.download = name ? name[1] : "recstore-export.zip";
      document.body.appendChild(save);
      save.click();
      save.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      status.textContent = status.dataset.doneText;
    } catch (err) {
      status.textContent = status.dataset.failText;
    } finally {
      link.removeAttribute("aria-disabled");
    }
  });
})();
