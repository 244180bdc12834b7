// Keeps a Daybreak page current without a reload.
//
// A page names the scheduler's event stream it cares about in <body data-events>. When an event
// arrives, the page is fetched again (at most a few times a second) and each region marked
// data-live is replaced by its fresh copy, keeping open <details> open. <pre data-follow> shows a
// file as it grows, from the scheduler's follow stream.
"use strict";

(function () {
  const body = document.body;
  const QUIET_MS = 250;
  let timer = null;
  let fetching = false;
  let wanted = false;

  function openDetails(region) {
    return Array.from(region.querySelectorAll("details[open]"), (element) => element.id);
  }

  async function refresh() {
    if (fetching) {
      wanted = true;
      return;
    }
    fetching = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const region of document.querySelectorAll("[data-live]")) {
        const replacement = fresh.getElementById(region.id);
        if (!replacement || replacement.innerHTML === region.innerHTML) continue;
        const open = openDetails(region);
        region.innerHTML = replacement.innerHTML;
        for (const id of open) {
          const details = id && document.getElementById(id);
          if (details) details.open = true;
        }
      }
      body.dataset.refreshes = String(Number(body.dataset.refreshes || 0) + 1);
    } finally {
      fetching = false;
      if (wanted) {
        wanted = false;
        soon();
      }
    }
  }

  function soon() {
    if (timer === null) {
      timer = setTimeout(() => {
        timer = null;
        refresh();
      }, QUIET_MS);
    }
  }

  if (body.dataset.events) {
    const source = new EventSource(body.dataset.events);
    source.onopen = () => {
      body.dataset.live = "connected";
    };
    source.onerror = () => {
      body.dataset.live = "reconnecting";
    };
    for (const kind of ["task", "task-deleted", "job", "update", "lagged"]) {
      source.addEventListener(kind, soon);
    }
  }
  if (body.dataset.refreshEvery) {
    setInterval(soon, Number(body.dataset.refreshEvery));
  }

  function follow(pre) {
    const status = document.getElementById(pre.dataset.status);
    const source = new EventSource(pre.dataset.follow);
    source.onopen = () => {
      status.textContent = "following";
    };
    source.addEventListener("output", (event) => {
      const chunk = JSON.parse(event.data);
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
      pre.append(chunk.text);
      pre.dataset.offset = String(chunk.next_offset);
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    });
    source.addEventListener("failed", (event) => {
      status.textContent = event.data;
      source.close();
    });
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) status.textContent = "reconnecting";
    };
  }

  document.querySelectorAll("pre[data-follow]").forEach(follow);
})();
