// The slot picker on the public booking page and on the manage page ("move to another time").
//
// The pages work without this script (a date form, server-rendered slot radios, plain form
// posts). With it: a month calendar fed by the slots API in the visitor's own time zone, slot
// buttons, and on the booking page a JSON booking request with its errors shown in place.
// Anything that came from a customer or the server is inserted with textContent, never as HTML.
(function () {
  "use strict";

  const picker = document.getElementById("slot-picker");
  if (!picker) return;
  const form = document.getElementById(picker.dataset.form);
  const mode = picker.dataset.mode; // "book" or "move"
  const tzInput = document.getElementById("tz");
  const tzError = document.getElementById("tz-error");
  const status = document.getElementById("slot-status");
  const alertBox = document.getElementById("slot-alert");
  const staleNote = document.getElementById("slot-stale");
  const slotList = document.getElementById("slot-list");
  const calBody = document.getElementById("cal-body");
  const calMonth = document.getElementById("cal-month");
  const prevButton = picker.querySelector("[data-cal=prev]");
  const nextButton = picker.querySelector("[data-cal=next]");
  const startInput = form.querySelector("[data-js-start]");
  const chosen = document.getElementById("chosen-slot");
  const formAlert = document.getElementById("form-alert");
  const maxDay = picker.dataset.maxDay;
  const zones = new Set(Array.from(document.querySelectorAll("#tz-list option"), (o) => o.value));

  const UNKNOWN = "We can't check availability right now — please try again in a few minutes.";

  // Switch from the no-script form to the calendar.
  document.querySelectorAll(".nojs-only").forEach((el) => el.remove());
  document.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
  startInput.disabled = false;

  let tz = tzInput.value;
  if (!picker.dataset.tzExplicit) {
    const detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zones.has(detected)) tz = detected;
  }
  tzInput.value = tz;
  form.elements.timezone.value = tz;

  let month = null; // {y, m} with m 0-11, in the visitor's zone
  let byDay = new Map(); // "YYYY-MM-DD" -> [{start, end}]
  let selectedDay = null;
  let selectedStart = null;
  let request = 0; // only the latest slots request may update the page
  let autoAdvanced = false;

  // --- dates in a time zone ------------------------------------------------------------
  function partsIn(date, zone) {
    const parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    }).formatToParts(date).forEach((p) => { parts[p.type] = p.value; });
    return parts;
  }
  function dayKey(date, zone) {
    const p = partsIn(date, zone);
    return `${p.year}-${p.month}-${p.day}`;
  }
  function keyOf(y, m, d) {
    return `${y}-${String(m + 1).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  }
  function utcDate(key) {
    const [y, m, d] = key.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  }
  function formatDay(key) {
    return new Intl.DateTimeFormat(undefined, {
      weekday: "long", day: "numeric", month: "long", timeZone: "UTC",
    }).format(utcDate(key));
  }
  function formatTime(iso) {
    return new Intl.DateTimeFormat(undefined, {
      hour: "numeric", minute: "2-digit", timeZone: tz,
    }).format(new Date(iso));
  }
  function today() {
    return dayKey(new Date(), tz);
  }

  // --- loading a month -------------------------------------------------------------------
  function setBusy(busy, text) {
    picker.setAttribute("aria-busy", busy ? "true" : "false");
    status.textContent = text || "";
  }
  function showAlert(text) {
    alertBox.textContent = text;
    alertBox.hidden = !text;
  }

  async function loadMonth() {
    const mine = ++request;
    const first = keyOf(month.y, month.m, 1);
    const last = keyOf(month.y, month.m, new Date(Date.UTC(month.y, month.m + 1, 0)).getUTCDate());
    const start = first < today() ? today() : first;
    byDay = new Map();
    renderCalendar(true);
    renderSlots();
    showAlert("");
    staleNote.hidden = true;
    setBusy(true, "Loading available times…");
    const url = new URL(picker.dataset.slotsUrl, window.location.href);
    url.search = new URLSearchParams({ start, end: last, timezone: tz }).toString();
    let response, body;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" } });
      body = await response.json().catch(() => ({}));
    } catch (e) {
      response = null;
    }
    if (mine !== request) return;
    if (!response || response.status === 503) {
      setBusy(false, "");
      showAlert(UNKNOWN);
      renderCalendar(false);
      return;
    }
    if (!response.ok) {
      setBusy(false, "");
      showAlert(body.detail || `Times could not be loaded (error ${response.status}).`);
      renderCalendar(false);
      return;
    }
    const monthPrefix = first.slice(0, 7);
    for (const slot of body.slots || []) {
      const key = dayKey(new Date(slot.start), tz);
      if (!key.startsWith(monthPrefix)) continue;
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(slot);
    }
    staleNote.hidden = !body.stale;
    if (byDay.size === 0 && !autoAdvanced && canGoNext()) {
      // Late in a month there may be nothing left: show the next one rather than nothing.
      autoAdvanced = true;
      changeMonth(1);
      return;
    }
    setBusy(false, byDay.size ? "" : `No free times in ${monthName()}. Try another month.`);
    if (!selectedDay || !byDay.has(selectedDay)) {
      selectedDay = byDay.size ? Array.from(byDay.keys()).sort()[0] : null;
    }
    renderCalendar(false);
    renderSlots();
  }

  function monthName() {
    return new Intl.DateTimeFormat(undefined, {
      month: "long", year: "numeric", timeZone: "UTC",
    }).format(new Date(Date.UTC(month.y, month.m, 1)));
  }
  function canGoPrev() {
    return keyOf(month.y, month.m, 1) > today().slice(0, 8) + "01";
  }
  function canGoNext() {
    const next = month.m === 11 ? keyOf(month.y + 1, 0, 1) : keyOf(month.y, month.m + 1, 1);
    return !maxDay || next <= maxDay;
  }
  function changeMonth(delta) {
    let m = month.m + delta;
    let y = month.y;
    if (m < 0) { m = 11; y -= 1; }
    if (m > 11) { m = 0; y += 1; }
    month = { y, m };
    selectedDay = null;
    loadMonth();
  }

  // --- rendering ---------------------------------------------------------------------------
  function renderCalendar(loading) {
    calMonth.textContent = monthName();
    prevButton.disabled = !canGoPrev();
    nextButton.disabled = !canGoNext();
    calBody.textContent = "";
    const firstWeekday = (new Date(Date.UTC(month.y, month.m, 1)).getUTCDay() + 6) % 7;
    const days = new Date(Date.UTC(month.y, month.m + 1, 0)).getUTCDate();
    let row = document.createElement("tr");
    for (let i = 0; i < firstWeekday; i++) row.appendChild(document.createElement("td"));
    for (let d = 1; d <= days; d++) {
      const key = keyOf(month.y, month.m, d);
      const cell = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cal-day";
      button.dataset.day = key;
      button.textContent = String(d);
      const count = (byDay.get(key) || []).length;
      if (count) {
        button.classList.add("has-slots");
        button.setAttribute("aria-label", `${formatDay(key)}, ${count} time${count === 1 ? "" : "s"} available`);
        button.setAttribute("aria-pressed", key === selectedDay ? "true" : "false");
        button.addEventListener("click", () => selectDay(key));
      } else {
        button.disabled = true;
        button.setAttribute("aria-label", `${formatDay(key)}, ${loading ? "loading" : "no free times"}`);
      }
      if (key === today()) button.classList.add("today");
      cell.appendChild(button);
      row.appendChild(cell);
      if ((firstWeekday + d) % 7 === 0) {
        calBody.appendChild(row);
        row = document.createElement("tr");
      }
    }
    if (row.children.length) {
      while (row.children.length < 7) row.appendChild(document.createElement("td"));
      calBody.appendChild(row);
    }
  }

  function selectDay(key) {
    selectedDay = key;
    calBody.querySelectorAll(".cal-day.has-slots").forEach((b) => {
      b.setAttribute("aria-pressed", b.dataset.day === key ? "true" : "false");
    });
    renderSlots();
    const first = slotList.querySelector("button");
    if (first) first.focus();
  }

  function renderSlots() {
    slotList.textContent = "";
    const slots = selectedDay ? byDay.get(selectedDay) || [] : [];
    if (!slots.length) return;
    const fieldset = document.createElement("fieldset");
    fieldset.className = "slot-group";
    const legend = document.createElement("legend");
    legend.textContent = `Available times on ${formatDay(selectedDay)}`;
    fieldset.appendChild(legend);
    const list = document.createElement("div");
    list.className = "slot-list";
    for (const slot of slots) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "slot-button";
      button.dataset.start = slot.start;
      button.textContent = formatTime(slot.start);
      button.setAttribute("aria-pressed", slot.start === selectedStart ? "true" : "false");
      button.addEventListener("click", () => selectSlot(slot));
      list.appendChild(button);
    }
    fieldset.appendChild(list);
    slotList.appendChild(fieldset);
  }

  function selectSlot(slot) {
    selectedStart = slot.start;
    startInput.value = slot.start;
    slotList.querySelectorAll(".slot-button").forEach((b) => {
      b.setAttribute("aria-pressed", b.dataset.start === slot.start ? "true" : "false");
    });
    chosen.textContent = `${formatDay(selectedDay)}, ${formatTime(slot.start)} – ${formatTime(slot.end)} (${tz})`;
    chosen.hidden = false;
    form.hidden = false;
    setFieldError("start", "");
    const heading = form.querySelector("h2[tabindex]");
    (heading || form).focus();
  }

  function clearSelection() {
    selectedStart = null;
    startInput.value = "";
    if (mode === "book") {
      chosen.hidden = true;
      chosen.textContent = "";
    } else {
      chosen.textContent = "Pick a new time above.";
    }
  }

  // --- the time zone -------------------------------------------------------------------------
  function matchZone(value) {
    const wanted = value.trim().replace(/\s+/g, "_");
    if (zones.has(wanted)) return wanted;
    const lower = wanted.toLowerCase();
    for (const z of zones) if (z.toLowerCase() === lower) return z;
    return null;
  }
  function applyZone(showErrors) {
    const zone = matchZone(tzInput.value);
    if (!zone) {
      if (showErrors) {
        tzError.textContent = "Pick a time zone from the list, for example Europe/London.";
        tzError.hidden = false;
        tzInput.setAttribute("aria-invalid", "true");
      }
      return;
    }
    tzError.textContent = "";
    tzError.hidden = true;
    tzInput.removeAttribute("aria-invalid");
    tzInput.value = zone;
    if (zone === tz) return;
    tz = zone;
    form.elements.timezone.value = tz;
    clearSelection();
    const now = partsIn(new Date(), tz);
    month = { y: Number(now.year), m: Number(now.month) - 1 };
    autoAdvanced = false;
    loadMonth();
  }
  tzInput.addEventListener("input", () => { if (zones.has(tzInput.value)) applyZone(false); });
  tzInput.addEventListener("change", () => applyZone(true));
  document.getElementById("picker-form").addEventListener("submit", (event) => {
    event.preventDefault();
    applyZone(true);
  });
  prevButton.addEventListener("click", () => changeMonth(-1));
  nextButton.addEventListener("click", () => changeMonth(1));

  // --- the form -------------------------------------------------------------------------------
  function setFieldError(key, text) {
    const error = document.getElementById(`err_${key}`);
    if (!error) return false;
    error.textContent = text;
    error.hidden = !text;
    const wrapper = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (wrapper) wrapper.classList.toggle("has-error", Boolean(text));
    form.querySelectorAll(`[name="${CSS.escape(key)}"]`).forEach((input) => {
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
    return true;
  }
  function clearErrors() {
    form.querySelectorAll(".field-error").forEach((el) => {
      const key = el.id.startsWith("err_") ? el.id.slice(4) : null;
      if (key) setFieldError(key, "");
    });
    if (formAlert) { formAlert.hidden = true; formAlert.textContent = ""; }
  }
  function formMessage(text) {
    if (!formAlert) return;
    formAlert.textContent = text;
    formAlert.hidden = !text;
  }
  function flatten(errors, into) {
    for (const [key, value] of Object.entries(errors || {})) {
      if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, into);
      else into[key.replace(/^answers\./, "")] = Array.isArray(value) ? value.join(" ") : String(value);
    }
    return into;
  }

  if (mode === "book") {
    form.hidden = true; // shown once a time is picked
    form.addEventListener("submit", submitBooking);
  } else {
    form.addEventListener("submit", (event) => {
      if (!startInput.value) {
        event.preventDefault();
        setFieldError("start", "Pick one of the available times first.");
      }
    });
  }

  async function submitBooking(event) {
    event.preventDefault();
    clearErrors();
    if (!startInput.value) {
      setFieldError("start", "Pick one of the available times first.");
      return;
    }
    const data = new FormData(form);
    const answers = {};
    const payload = { start: startInput.value, timezone: tz, answers };
    for (const [key, value] of data.entries()) {
      if (key === "csrfmiddlewaretoken" || key === "start" || key === "timezone") continue;
      if (/^q\d+$/.test(key)) answers[key] = value;
      else payload[key] = value;
    }
    const button = document.getElementById("book-button");
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    formMessage("");
    let response, body;
    try {
      response = await fetch(form.dataset.apiUrl, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": data.get("csrfmiddlewaretoken"),
        },
        body: JSON.stringify(payload),
        credentials: "same-origin",
      });
      body = await response.json().catch(() => ({}));
    } catch (e) {
      response = null;
      body = {};
    }
    button.disabled = false;
    form.removeAttribute("aria-busy");
    if (response && response.status === 201) {
      window.location.assign(confirmationUrl(body));
      return;
    }
    const code = response ? response.status : 0;
    if (code === 400) {
      const errors = flatten(body.errors, {});
      let firstInvalid = null;
      for (const [key, text] of Object.entries(errors)) {
        if (setFieldError(key, text) && !firstInvalid) {
          firstInvalid = form.querySelector(`[name="${CSS.escape(key)}"]`);
        }
      }
      const unplaced = Object.keys(errors).filter((k) => !document.getElementById(`err_${k}`));
      formMessage(
        "Please correct the highlighted fields."
          + (unplaced.length ? " " + unplaced.map((k) => errors[k]).join(" ") : ""),
      );
      if (firstInvalid) firstInvalid.focus();
    } else if (code === 409) {
      formMessage("That time was just taken — please pick another.");
      clearSelection();
      loadMonth();
      formAlert.focus();
    } else if (code === 429) {
      formMessage("Too many attempts. Please wait a minute and try again.");
    } else if (code === 503 || code === 0) {
      formMessage(body.detail || "We can't confirm right now — please try again shortly.");
    } else {
      formMessage(body.detail || `Something went wrong (error ${code}). Please try again.`);
    }
  }

  function confirmationUrl(body) {
    // The manage link carries the signed token; the confirmation page is addressed by it too,
    // so neither can be guessed from a booking id.
    const manage = new URL(body.manage_url || "", window.location.href).pathname;
    const [before, after] = form.dataset.manageUrl.split("TOKEN");
    if (manage.startsWith(before) && manage.endsWith(after)) {
      const token = manage.slice(before.length, manage.length - after.length);
      return form.dataset.confirmUrl.replace("TOKEN", token);
    }
    return body.manage_url;
  }

  // --- start ----------------------------------------------------------------------------------
  if (formAlert) formAlert.setAttribute("tabindex", "-1");
  const initial = picker.dataset.initialDay; // ?date=YYYY-MM-DD from the no-script form
  if (initial && initial >= today()) {
    month = { y: Number(initial.slice(0, 4)), m: Number(initial.slice(5, 7)) - 1 };
    selectedDay = initial;
    autoAdvanced = true;
  } else {
    const now = partsIn(new Date(), tz);
    month = { y: Number(now.year), m: Number(now.month) - 1 };
  }
  loadMonth();
})();
