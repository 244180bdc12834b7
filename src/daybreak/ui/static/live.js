// Keeps a Daybreak page current without a reload.
//
// A page names the scheduler's event stream it cares about in <body data-events>. When an event
// for it arrives, the page is fetched again (at most a few times a second) and each region
// marked data-live is replaced by its fresh copy, keeping open <details> open. The tabs of a
// browser share one stream (see shareOneStream). <pre data-follow> shows a file as it grows,
// from the scheduler's follow stream.
"use strict";

(function () {
  const body = document.body;
  const QUIET_MS = 250;
  const BACK_SHOWN_MS = 4000;
  const KINDS = ["task", "task-deleted", "job", "update", "lagged"];
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
        region.dispatchEvent(new CustomEvent("daybreak:refreshed", { bubbles: true }));
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

  // A banner says when the live connection is lost and when it is back: a page that stopped
  // changing must not look like a cluster where nothing happens.
  const banner = document.createElement("div");
  banner.id = "live-banner";
  banner.setAttribute("role", "status");
  banner.hidden = true;
  (document.querySelector("header.top") || body.firstChild).after(banner);
  let backTimer = null;

  function setLive(state) {
    const before = body.dataset.live;
    body.dataset.live = state;
    clearTimeout(backTimer);
    if (state === "reconnecting") {
      banner.className = "live-banner lost";
      banner.textContent =
        "Live updates stopped: the scheduler cannot be reached. Reconnecting\u2026 " +
        "(what this page shows may be out of date)";
      banner.hidden = false;
    } else if (state === "connected") {
      if (before === "reconnecting") {
        banner.className = "live-banner back";
        banner.textContent = "Live updates are back.";
        banner.hidden = false;
        backTimer = setTimeout(() => (banner.hidden = true), BACK_SHOWN_MS);
      }
      soon(); // whatever changed while no stream was open
    }
  }

  function jobOf(kind, text) {
    try {
      const data = JSON.parse(text);
      const job = kind === "task" ? data.task.job : kind === "update" ? data.update.job : data.job;
      return [job.cluster, job.role, job.environment, job.name].join("/");
    } catch (error) {
      return null; // lagged, or a shape this page does not know: let it refresh
    }
  }

  // What this page follows: a job, a role, or everything.
  const interest = new URL(body.dataset.events || "/", location.href).searchParams;

  function concerns(job) {
    if (job === null) return true;
    const role = interest.get("role");
    const key = interest.get("job");
    return (!role || job.split("/")[1] === role) && (!key || job === key);
  }

  function subscribe(url, onEvent, onState) {
    const source = new EventSource(url);
    source.onopen = () => onState("connected");
    source.onerror = () => onState("reconnecting");
    for (const kind of KINDS) {
      source.addEventListener(kind, (event) => onEvent(jobOf(kind, event.data)));
    }
    return source;
  }

  function onJobEvent(job) {
    if (concerns(job)) soon();
  }

  // One stream per browser, shared by its tabs. Each tab holding a stream of its own took one
  // of the six connections Chromium allows a host over HTTP/1.1: with six tabs open no tab
  // updated and a seventh page never loaded. The tab that holds the lock follows every event
  // and tells the others the job of each; each tab keeps what concerns its page. When that tab
  // closes, the next one waiting for the lock takes over.
  function shareOneStream(events) {
    const channel = new BroadcastChannel("daybreak-live");
    let leading = false;
    channel.onmessage = (message) => {
      const said = message.data;
      if (said.type === "event") onJobEvent(said.job);
      else if (said.type === "state") setLive(said.live);
      else if (said.type === "hello" && leading && body.dataset.live) {
        channel.postMessage({ type: "state", live: body.dataset.live });
      }
    };
    channel.postMessage({ type: "hello" });
    navigator.locks.request("daybreak-live", () => {
      leading = true;
      const all = new URL(events, location.href);
      all.search = "";
      subscribe(
        all.href,
        (job) => {
          channel.postMessage({ type: "event", job });
          onJobEvent(job);
        },
        (live) => {
          channel.postMessage({ type: "state", live });
          setLive(live);
        },
      );
      return new Promise(() => {}); // held until the tab goes
    });
  }

  // Where a page cannot share (no Web Locks outside a secure context), a tab follows on its
  // own while it is seen, and lets its connection go while it is hidden.
  function followWhileVisible(events) {
    let source = null;
    const update = () => {
      if (document.hidden && source) {
        source.close();
        source = null;
      } else if (!document.hidden && !source) {
        source = subscribe(events, onJobEvent, setLive);
      }
    };
    document.addEventListener("visibilitychange", update);
    update();
  }

  if (body.dataset.events) {
    if (navigator.locks && window.BroadcastChannel) shareOneStream(body.dataset.events);
    else followWhileVisible(body.dataset.events);
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
