// The slot picker on the public booking page and on the manage page ("move to another time").
//
// The pages work without this script (a time zone <select>, a date form, server-rendered slot
// radios, plain form posts). With it: a searchable time zone combobox (WAI-ARIA combobox with a
// listbox popup) preset to the browser's zone, a month calendar (WAI-ARIA date grid: arrow
// keys, Home/End, Page Up/Down, one day in the tab order) fed by the slots API in that zone,
// slot buttons, and on the booking page a JSON booking request with its errors shown in place.
// Anything that came from a customer or the server is inserted with textContent, never as HTML.
(function () {
  "use strict";

  const picker = document.getElementById("slot-picker");
  if (!picker) return;
  const form = document.getElementById(picker.dataset.form);
  const mode = picker.dataset.mode; // "book" or "move"
  const tzSelect = document.getElementById("tz");
  const tzInput = document.getElementById("tz-search");
  const tzListbox = document.getElementById("tz-listbox");
  const tzCount = document.getElementById("tz-count");
  const tzLabel = document.getElementById("tz-label");
  const tzName = document.getElementById("tz-name");
  const tzError = document.getElementById("tz-error");
  const calLimit = document.getElementById("cal-limit");
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
  // Round robin where the customer may choose: "Any available" or one member. The slots API
  // lists who is free at each time; the calendar shows only the chosen member's times.
  const memberRadios = mode === "book"
    ? Array.from(picker.querySelectorAll("#member-choice input[name=member]")) : [];
  const memberInput = form.elements.member || null;
  // The zones people can pick, read from the <select> before it goes: canonical names, their
  // cities, "United States · EST · UTC−5", and the words a search matches (bookings/zones.py).
  const zoneList = Array.from(tzSelect.options, (o) => ({
    name: o.value,
    city: o.dataset.city || o.value,
    detail: o.dataset.detail || "",
    keys: (o.dataset.keys || o.value.toLowerCase()).split(" "),
    group: o.parentElement.label || "",
  }));
  const zoneByName = new Map(zoneList.map((z) => [z.name, z]));

  // Texts in the page's language: Django's JavaScript catalog (/jsi18n/<lang>.js, loaded
  // first) defines gettext, ngettext and interpolate; without it the English stays.
  const LANG = document.documentElement.lang || "en";
  const gettext = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const interpolate = window.interpolate
    || ((text, values) => text.replace(/%\((\w+)\)s/g, (_, key) => String(values[key])));
  const fill = (text, values) => interpolate(text, values, true);
  // English keeps its British day names ("Tuesday 8 December") and the browser's clock;
  // another language writes both its own way ("Dienstag, 8. Dezember", "09:00").
  const DAY_LOCALE = LANG === "en" ? "en-GB" : LANG;
  const TIME_LOCALE = LANG === "en" ? undefined : LANG;

  const UNKNOWN = gettext("We can't check availability right now — please try again in a few minutes.");

  // Switch from the no-script form to the calendar.
  let tz = tzSelect.value;
  document.querySelectorAll(".nojs-only").forEach((el) => el.remove());
  document.querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
  tzLabel.htmlFor = "tz-search";
  startInput.disabled = false;

  if (!picker.dataset.tzExplicit) {
    const detected = browserZone();
    if (detected) tz = detected;
  }
  form.elements.timezone.value = tz;
  showZone();

  let month = null; // {y, m} with m 0-11, in the visitor's zone
  let monthSlots = []; // the month's slots as the API answered them, everyone's
  let byDay = new Map(); // "YYYY-MM-DD" -> [{start, end}] the visitor can choose
  let member = memberRadios.length ? (memberRadios.find((r) => r.checked) || {}).value || "" : "";
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
    // "Tuesday 8 December", as the server writes days.
    return new Intl.DateTimeFormat(DAY_LOCALE, {
      weekday: "long", day: "numeric", month: "long", timeZone: "UTC",
    }).format(utcDate(key));
  }
  function formatTime(iso) {
    return new Intl.DateTimeFormat(TIME_LOCALE, {
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
  function freeTimesText(key) {
    // What the live region says once a day's times are known.
    const count = (byDay.get(key) || []).length;
    const day = formatDay(key);
    if (!count && member) return fill(gettext("No free times with %(name)s on %(day)s."), { name: memberName(), day });
    if (!count) return fill(gettext("No free times on %(day)s."), { day });
    return fill(ngettext("%(count)s time free on %(day)s.", "%(count)s times free on %(day)s.", count), { count, day });
  }

  async function loadMonth() {
    const mine = ++request;
    const first = keyOf(month.y, month.m, 1);
    const last = keyOf(month.y, month.m, daysIn(month.y, month.m));
    const start = first < today() ? today() : first;
    monthSlots = [];
    byDay = new Map();
    renderCalendar(true);
    renderSlots();
    showAlert("");
    staleNote.hidden = true;
    setBusy(true, gettext("Loading available times…"));
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
      showAlert(body.detail || fill(gettext("Times could not be loaded (error %(status)s)."), { status: response.status }));
      renderCalendar(false);
      return;
    }
    const monthPrefix = first.slice(0, 7);
    monthSlots = (body.slots || []).filter((slot) => dayKey(new Date(slot.start), tz).startsWith(monthPrefix));
    groupDays();
    staleNote.hidden = !body.stale;
    if (byDay.size === 0 && !autoAdvanced && canGoNext() && !gridHasFocus()) {
      // Late in a month there may be nothing left: show the next one rather than nothing.
      autoAdvanced = true;
      changeMonth(1);
      return;
    }
    if (!selectedDay || !byDay.has(selectedDay)) {
      selectedDay = byDay.size ? Array.from(byDay.keys()).sort()[0] : null;
    }
    if (selectedDay && !gridHasFocus()) focusDay = selectedDay;
    setBusy(false, selectedDay ? freeTimesText(selectedDay) : noTimesText());
    renderCalendar(false);
    renderSlots();
  }

  // --- choosing a team member --------------------------------------------------------------
  function offered(slot) {
    return !member || (slot.members || []).some((m) => String(m.id) === member);
  }
  function groupDays() {
    byDay = new Map();
    for (const slot of monthSlots) {
      if (!offered(slot)) continue;
      const key = dayKey(new Date(slot.start), tz);
      if (!byDay.has(key)) byDay.set(key, []);
      byDay.get(key).push(slot);
    }
  }
  function memberName() {
    const radio = memberRadios.find((r) => r.value === member);
    return radio ? radio.dataset.name || "" : "";
  }
  function noTimesText() {
    const shown = monthName();
    if (member) return fill(gettext("No free times with %(name)s in %(month)s. Try another month."), { name: memberName(), month: shown });
    return fill(gettext("No free times in %(month)s. Try another month."), { month: shown });
  }
  function chooseMember(value) {
    member = value;
    if (memberInput) memberInput.value = value;
    groupDays();
    const still = selectedStart && (byDay.get(selectedDay) || []).some((s) => s.start === selectedStart);
    if (!still) clearSelection();
    if (!selectedDay || !byDay.has(selectedDay)) {
      selectedDay = byDay.size ? Array.from(byDay.keys()).sort()[0] : null;
    }
    if (picker.getAttribute("aria-busy") !== "true") {
      status.textContent = selectedDay ? freeTimesText(selectedDay) : noTimesText();
    }
    renderCalendar(false);
    renderSlots();
  }
  memberRadios.forEach((radio) => {
    radio.addEventListener("change", () => { if (radio.checked) chooseMember(radio.value); });
  });
  if (memberInput) memberInput.value = member;

  function daysIn(y, m) {
    return new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  }
  function monthName() {
    return new Intl.DateTimeFormat(DAY_LOCALE, {
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
  function changeMonth(delta, keepFocusDay) {
    let m = month.m + delta;
    let y = month.y;
    while (m < 0) { m += 12; y -= 1; }
    while (m > 11) { m -= 12; y += 1; }
    month = { y, m };
    selectedDay = null;
    if (!keepFocusDay) focusDay = keyOf(y, m, 1);
    loadMonth();
  }

  // --- the date grid -----------------------------------------------------------------------
  let focusDay = null; // the one day in the tab order (roving tabindex)

  function gridHasFocus() {
    return calBody.contains(document.activeElement);
  }
  function shiftDay(key, days) {
    const d = utcDate(key);
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }
  function shiftMonth(key, months) {
    // The same day of the month, or the month's last if it is shorter (31 Jan → 28 Feb).
    let [y, m, d] = key.split("-").map(Number);
    m = m - 1 + months;
    y += Math.floor(m / 12);
    m = ((m % 12) + 12) % 12;
    return keyOf(y, m, Math.min(d, daysIn(y, m)));
  }
  function firstShownDay() {
    return today().slice(0, 8) + "01";
  }
  function lastShownDay() {
    if (!maxDay) return "9999-12-31";
    const [y, m] = maxDay.split("-").map(Number);
    return keyOf(y, m - 1, daysIn(y, m - 1));
  }
  function moveFocus(target) {
    // Clamp to the months the calendar can show, then follow the day into its month.
    if (target < firstShownDay()) target = firstShownDay();
    if (target > lastShownDay()) target = lastShownDay();
    focusDay = target;
    const [y, m] = target.split("-").map(Number);
    if (y !== month.y || m - 1 !== month.m) {
      changeMonth((y - month.y) * 12 + (m - 1 - month.m), true);
    } else {
      rovingTabindex();
    }
    const button = calBody.querySelector(`[data-day="${target}"]`);
    if (button) button.focus();
  }
  function rovingTabindex() {
    const buttons = Array.from(calBody.querySelectorAll(".cal-day"));
    if (!buttons.some((b) => b.dataset.day === focusDay)) {
      const pick = buttons.find((b) => b.dataset.day === selectedDay)
        || buttons.find((b) => b.classList.contains("has-slots"))
        || buttons.find((b) => b.dataset.day === today())
        || buttons[0];
      focusDay = pick ? pick.dataset.day : null;
    }
    buttons.forEach((b) => { b.tabIndex = b.dataset.day === focusDay ? 0 : -1; });
  }
  calBody.addEventListener("keydown", (event) => {
    const key = event.target.dataset && event.target.dataset.day;
    if (!key) return;
    const weekday = (utcDate(key).getUTCDay() + 6) % 7; // Monday 0
    const moves = {
      ArrowLeft: () => shiftDay(key, -1),
      ArrowRight: () => shiftDay(key, 1),
      ArrowUp: () => shiftDay(key, -7),
      ArrowDown: () => shiftDay(key, 7),
      Home: () => shiftDay(key, -weekday),
      End: () => shiftDay(key, 6 - weekday),
      PageUp: () => shiftMonth(key, event.shiftKey ? -12 : -1),
      PageDown: () => shiftMonth(key, event.shiftKey ? 12 : 1),
    };
    if (!moves[event.key] || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    moveFocus(moves[event.key]());
  });
  calBody.addEventListener("focusin", (event) => {
    if (event.target.dataset && event.target.dataset.day) {
      focusDay = event.target.dataset.day;
      rovingTabindex();
    }
  });

  // --- rendering ---------------------------------------------------------------------------
  function renderCalendar(loading) {
    const hadFocus = gridHasFocus();
    calMonth.textContent = monthName();
    prevButton.disabled = !canGoPrev();
    // At the end of the booking window the button stays focusable, and says why it does
    // nothing (aria-describedby="cal-limit", shown beside it).
    const atLimit = !canGoNext();
    if (atLimit) nextButton.setAttribute("aria-disabled", "true");
    else nextButton.removeAttribute("aria-disabled");
    calLimit.hidden = !atLimit;
    calBody.textContent = "";
    const firstWeekday = (new Date(Date.UTC(month.y, month.m, 1)).getUTCDay() + 6) % 7;
    const days = daysIn(month.y, month.m);
    let row = document.createElement("tr");
    const emptyCell = () => {
      const td = document.createElement("td");
      td.setAttribute("role", "gridcell");
      return td;
    };
    for (let i = 0; i < firstWeekday; i++) row.appendChild(emptyCell());
    for (let d = 1; d <= days; d++) {
      const key = keyOf(month.y, month.m, d);
      const cell = emptyCell();
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cal-day";
      button.dataset.day = key;
      button.textContent = String(d);
      button.tabIndex = -1;
      const count = (byDay.get(key) || []).length;
      if (count) {
        button.classList.add("has-slots");
        button.setAttribute("aria-label", fill(ngettext("%(day)s, %(count)s time free", "%(day)s, %(count)s times free", count), { day: formatDay(key), count }));
        cell.setAttribute("aria-selected", key === selectedDay ? "true" : "false");
      } else {
        // Focusable, so arrow keys can cross it; it just has nothing to choose.
        button.setAttribute("aria-disabled", "true");
        let why = gettext("no free times");
        if (loading) why = gettext("loading");
        else if (maxDay && key > maxDay) why = gettext("not open for booking yet");
        else if (key < today()) why = gettext("past");
        button.setAttribute("aria-label", `${formatDay(key)}, ${why}`);
      }
      button.addEventListener("click", () => selectDay(key));
      if (key === today()) {
        button.classList.add("today");
        button.setAttribute("aria-current", "date");
      }
      cell.appendChild(button);
      row.appendChild(cell);
      if ((firstWeekday + d) % 7 === 0) {
        calBody.appendChild(row);
        row = document.createElement("tr");
      }
    }
    if (row.children.length) {
      while (row.children.length < 7) row.appendChild(emptyCell());
      calBody.appendChild(row);
    }
    rovingTabindex();
    if (hadFocus) {
      // The grid was rebuilt under the keyboard user's focus: put it back on their day.
      const button = calBody.querySelector(`[data-day="${focusDay}"]`);
      if (button) button.focus();
    }
  }

  function selectDay(key) {
    if (!(byDay.get(key) || []).length) {
      status.textContent = picker.getAttribute("aria-busy") === "true"
        ? "Loading available times…" : freeTimesText(key);
      return;
    }
    selectedDay = key;
    focusDay = key;
    calBody.querySelectorAll(".cal-day.has-slots").forEach((b) => {
      b.parentElement.setAttribute("aria-selected", b.dataset.day === key ? "true" : "false");
    });
    rovingTabindex();
    status.textContent = freeTimesText(key);
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
    legend.textContent = fill(gettext("Available times on %(day)s"), { day: formatDay(selectedDay) });
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
    const when = `${formatDay(selectedDay)}, ${formatTime(slot.start)} – ${formatTime(slot.end)} (${zoneTimeName(tz)})`;
    chosen.textContent = member ? fill(gettext("%(when)s, with %(name)s"), { when, name: memberName() }) : when;
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
      chosen.textContent = gettext("Pick a new time above.");
    }
  }

  // --- the time zone -------------------------------------------------------------------------
  function icuZone(name) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
    } catch (e) {
      return null; // a name this browser doesn't know
    }
  }
  function browserZone() {
    // The browser may name its zone in an old form (Chrome says Asia/Calcutta): offer the
    // canonical zone the browser considers the same one.
    const detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!detected) return null;
    if (zoneByName.has(detected)) return detected;
    if (/^(Etc\/)?(UTC|UCT|GMT|Zulu|Universal)$/.test(detected) && zoneByName.has("UTC")) return "UTC";
    const same = icuZone(detected);
    const match = same && zoneList.find((z) => icuZone(z.name) === same);
    return match ? match.name : null;
  }
  const timeFormats = new Map();
  function zoneTime(name) {
    // "9:14 am", as the server writes the option labels.
    if (!timeFormats.has(name)) {
      timeFormats.set(name, new Intl.DateTimeFormat("en-US", {
        hour: "numeric", minute: "2-digit", hour12: true, timeZone: name,
      }));
    }
    return timeFormats.get(name).format(new Date()).replace(/\s+/g, " ").toLowerCase();
  }
  function zoneTimeName(name) {
    const zone = zoneByName.get(name);
    if (!zone || name === "UTC") return zone ? zone.city : name;
    return `${zone.city} time`;
  }
  function showZone() {
    const zone = zoneByName.get(tz);
    tzInput.value = zone ? zone.city : tz;
    tzName.textContent = zoneTimeName(tz);
  }
  function words(text) {
    return text.toLowerCase().replace(/[\W_]+/gu, " ").trim().split(" ").filter(Boolean);
  }
  function searchZones(query) {
    // The same match as bookings.zones.search: every word starts one of the zone's keywords
    // (city, country, abbreviation, former name); the city itself first, then an exact
    // country or abbreviation, then cities starting so, then the rest.
    const wanted = words(query);
    if (!wanted.length) return zoneList.slice();
    const phrase = wanted.join(" ");
    const ranked = [];
    for (const zone of zoneList) {
      if (!wanted.every((w) => zone.keys.some((k) => k.startsWith(w)))) continue;
      const city = words(zone.city).join(" ");
      let rank = 3;
      if (city === phrase) rank = 0;
      else if (wanted.length === 1 && zone.keys.includes(phrase)) rank = 1;
      else if (city.startsWith(phrase)) rank = 2;
      ranked.push({ rank, zone });
    }
    ranked.sort((a, b) => a.rank - b.rank || a.zone.city.localeCompare(b.zone.city));
    return ranked.map((r) => r.zone);
  }
  function exactZone(text) {
    // What typed text names when the visitor leaves the field without choosing: a zone name
    // or a city naming one zone ("london", "New_York").
    const wanted = words(text).join(" ");
    if (!wanted) return null;
    const byName = zoneList.filter((z) => words(z.name).join(" ") === wanted);
    if (byName.length === 1) return byName[0].name;
    const byCity = zoneList.filter((z) => words(z.city).join(" ") === wanted);
    return byCity.length === 1 ? byCity[0].name : null;
  }

  let results = [];
  let active = -1;
  function isOpen() {
    return tzInput.getAttribute("aria-expanded") === "true";
  }
  function openList(query) {
    results = searchZones(query);
    tzListbox.textContent = "";
    results.forEach((zone, i) => {
      const option = document.createElement("li");
      option.id = `tz-opt-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.dataset.zone = zone.name;
      const label = document.createElement("span");
      label.className = "tz-opt-label";
      label.textContent = `${zone.city} — ${zoneTime(zone.name)}`;
      const detail = document.createElement("span");
      detail.className = "tz-opt-detail";
      detail.textContent = zone.detail;
      option.append(label, detail);
      tzListbox.appendChild(option);
    });
    active = -1;
    tzInput.removeAttribute("aria-activedescendant");
    tzListbox.hidden = results.length === 0;
    tzInput.setAttribute("aria-expanded", results.length ? "true" : "false");
    tzCount.textContent = results.length
      ? fill(ngettext("%(count)s time zone found.", "%(count)s time zones found.", results.length), { count: results.length })
      : fill(gettext("No time zone matches “%(query)s”. Try a city or a country."), { query: query.trim() });
  }
  function closeList() {
    tzInput.setAttribute("aria-expanded", "false");
    tzInput.removeAttribute("aria-activedescendant");
    tzListbox.hidden = true;
    tzListbox.textContent = "";
    results = [];
    active = -1;
  }
  function setActive(i) {
    if (!results.length) return;
    active = (i + results.length) % results.length;
    tzListbox.querySelectorAll("[role=option]").forEach((o, j) => {
      o.setAttribute("aria-selected", j === active ? "true" : "false");
    });
    const option = document.getElementById(`tz-opt-${active}`);
    tzInput.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }
  function setZoneError(text) {
    tzError.textContent = text;
    tzError.hidden = !text;
    if (text) tzInput.setAttribute("aria-invalid", "true");
    else tzInput.removeAttribute("aria-invalid");
  }
  function chooseZone(name) {
    closeList();
    setZoneError("");
    if (name !== tz) {
      tz = name;
      form.elements.timezone.value = tz;
      clearSelection();
      const now = partsIn(new Date(), tz);
      month = { y: Number(now.year), m: Number(now.month) - 1 };
      selectedDay = null;
      autoAdvanced = false;
      loadMonth();
    }
    showZone();
  }
  function leaveZoneField() {
    // Whatever was typed, the field ends up naming the zone the times are in.
    closeList();
    const zone = zoneByName.get(tz);
    const typed = tzInput.value.trim();
    if (!typed || (zone && typed === zone.city)) {
      showZone();
      return;
    }
    const match = exactZone(typed);
    if (match) {
      chooseZone(match);
      return;
    }
    setZoneError(fill(gettext("No time zone matches “%(typed)s”. The times are still shown in %(zone)s."), { typed, zone: zoneTimeName(tz) }));
    showZone();
  }

  tzInput.addEventListener("focus", () => tzInput.select());
  tzInput.addEventListener("click", () => { if (!isOpen()) openList(""); });
  tzInput.addEventListener("input", () => openList(tzInput.value));
  tzInput.addEventListener("keydown", (event) => {
    const zone = zoneByName.get(tz);
    const typedCurrent = zone && tzInput.value === zone.city;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!isOpen()) {
        openList(typedCurrent ? "" : tzInput.value);
        if (event.altKey) return;
        const current = results.findIndex((z) => z.name === tz);
        setActive(current >= 0 && typedCurrent ? current : event.key === "ArrowDown" ? 0 : -1);
        return;
      }
      if (event.altKey && event.key === "ArrowUp") { closeList(); return; }
      setActive(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault(); // never submit the no-script form
      if (isOpen() && results.length) chooseZone(results[Math.max(active, 0)].name);
      else leaveZoneField();
    } else if (event.key === "Escape") {
      if (isOpen()) {
        event.preventDefault();
        closeList();
      } else {
        setZoneError("");
        showZone();
      }
    }
  });
  tzInput.addEventListener("blur", leaveZoneField);
  // Keep focus in the input while an option is clicked, so blur doesn't close the list first.
  tzListbox.addEventListener("mousedown", (event) => event.preventDefault());
  tzListbox.addEventListener("click", (event) => {
    const option = event.target.closest("[role=option]");
    if (option) chooseZone(option.dataset.zone);
  });
  document.getElementById("picker-form").addEventListener("submit", (event) => {
    event.preventDefault();
  });
  prevButton.addEventListener("click", () => changeMonth(-1));
  nextButton.addEventListener("click", () => {
    if (nextButton.getAttribute("aria-disabled") === "true") {
      status.textContent = calLimit.textContent; // said again, for whoever pressed it
      return;
    }
    changeMonth(1);
  });

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
        setFieldError("start", gettext("Pick one of the available times first."));
      }
    });
  }

  async function submitBooking(event) {
    event.preventDefault();
    clearErrors();
    if (!startInput.value) {
      setFieldError("start", gettext("Pick one of the available times first."));
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
      if (!Object.keys(errors).length) {
        // Refused as a whole (the time is now too soon, outside the hours...): say why.
        formMessage(body.detail || gettext("Please check the details and try again."));
      } else {
        formMessage(
          gettext("Please correct the highlighted fields.")
            + (unplaced.length ? " " + unplaced.map((k) => errors[k]).join(" ") : ""),
        );
      }
      if (firstInvalid) firstInvalid.focus();
    } else if (code === 409 && body.code === "not_taking_bookings") {
      // Not the time but the page: no other time would do, so say what the server says.
      formMessage(body.detail || gettext("This booking page isn't taking bookings right now."));
      formAlert.focus();
    } else if (code === 409) {
      // Taken meanwhile, or no longer bookable (too soon now, the day now full): the server
      // says which; the slots are reloaded either way.
      const why = body.code && body.code !== "taken" && body.detail;
      formMessage(why || gettext("That time was just taken — please pick another."));
      clearSelection();
      loadMonth();
      formAlert.focus();
    } else if (code === 429) {
      formMessage(gettext("Too many attempts. Please wait a minute and try again."));
    } else if (code === 503 || code === 0) {
      formMessage(body.detail || gettext("We can't confirm right now — please try again shortly."));
    } else {
      formMessage(body.detail || fill(gettext("Something went wrong (error %(code)s). Please try again."), { code }));
    }
  }

  function confirmationUrl(body) {
    // The manage link carries the signed token; the confirmation page is addressed by it too,
    // so neither can be guessed from a booking id.
    const manage = new URL(body.manage_url || "", window.location.href).pathname;
    const [before, after] = form.dataset.manageUrl.split("TOKEN");
    if (manage.startsWith(before) && manage.endsWith(after)) {
      const token = manage.slice(before.length, manage.length - after.length);
      const url = form.dataset.confirmUrl.replace("TOKEN", token);
      // Inside the embed snippet's iframe the confirmation stays in embed mode too.
      return new URLSearchParams(window.location.search).get("embed") === "1" ? `${url}?embed=1` : url;
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
