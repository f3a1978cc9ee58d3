// The booking-page editor's enhancements. Everything works without them: each list has a
// spare blank row to fill in (hidden here until "Add …" asks for a row), "Remove" is a
// checkbox the server understands, and questions are ordered by typing numbers.
(function () {
  "use strict";
  // After a refused save, start at the summary of what to correct.
  var errors = document.getElementById("form-errors");
  if (errors) errors.focus();

  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  var form = document.querySelector("[data-editor]");
  if (!form) return;

  // Lists and their add buttons find each other by name (data-list / data-add-to), never by
  // where they sit in the page.
  function listNamed(name) {
    return form.querySelector('[data-list="' + name + '"]');
  }

  function addButtonOf(list) {
    return list && form.querySelector('[data-add-to="' + list.getAttribute("data-list") + '"]');
  }

  // A row in use: shown, not removed, not a spare.
  function inUse(row) {
    return !row.hidden && !row.hasAttribute("data-spare");
  }

  // Add a row: clone the list's <template>. A formset row (data-prefix) is numbered as the
  // next form of its formset; an override's range (data-name) is named after its override.
  function addRow(button) {
    var list = listNamed(button.getAttribute("data-add-to"));
    var template = document.getElementById(button.getAttribute("data-template"));
    if (!list || !template) return;
    var html = template.innerHTML;
    var prefix = button.getAttribute("data-prefix");
    if (prefix) {
      var total = form.querySelector('input[name="' + prefix + '-TOTAL_FORMS"]');
      var index = parseInt(total.value, 10);
      html = html.replace(/__prefix__/g, String(index));
      total.value = String(index + 1);
    }
    var name = button.getAttribute("data-name");
    if (name) html = html.replace(/__name__/g, name);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    // Asked for, so shown: a new date comes with one range ready to fill in.
    row.removeAttribute("data-spare");
    row.querySelectorAll("[data-spare]").forEach(function (el) { el.removeAttribute("data-spare"); });
    list.appendChild(row);
    enhance(row);
    changed(list);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  // Remove a formset row: tick its DELETE box (so the server drops it) and hide it.
  function removeRow(row) {
    var list = row.parentElement;
    var box = row.querySelector('input[type=checkbox][name$="-DELETE"]');
    if (box) box.checked = true;
    row.hidden = true;
    changed(list);
    focusAfterRemoving(list);
  }

  // An override's range has no number: taking it out of the page is enough.
  function removeRange(row) {
    var list = row.parentElement;
    row.remove();
    changed(list);
    focusAfterRemoving(list);
  }

  function focusAfterRemoving(list) {
    var button = addButtonOf(list);
    if (button) button.focus();
  }

  // After a list changed: a weekday without ranges says it's closed, and questions are
  // renumbered in screen order.
  function changed(list) {
    var day = list.closest("[data-weekday]");
    if (day) {
      var note = day.querySelector("[data-closed-note]");
      var rows = Array.prototype.filter.call(list.querySelectorAll("[data-row]"), inUse);
      if (note) note.hidden = rows.length > 0;
    }
    if (list.getAttribute("data-list") === "questions") renumber(list);
  }

  function questions(list) {
    return Array.prototype.filter.call(list.querySelectorAll("[data-question]"), inUse);
  }

  // Positions follow the screen: 0, 1, 2… (the spare and removed rows keep theirs, which the
  // server ignores). The first can't move up, the last can't move down.
  function renumber(list) {
    var rows = questions(list);
    rows.forEach(function (row, i) {
      var position = row.querySelector('input[name$="-position"]');
      if (position) position.value = String(i);
      row.querySelector('[data-move="up"]').disabled = i === 0;
      row.querySelector('[data-move="down"]').disabled = i === rows.length - 1;
    });
  }

  // Move a question by moving its neighbour: the row with the focused button stays in the
  // document, so the focus stays on the button pressed.
  function move(button) {
    var row = button.closest("[data-question]");
    var list = row.parentElement;
    var rows = questions(list);
    var i = rows.indexOf(row);
    var up = button.getAttribute("data-move") === "up";
    var other = rows[up ? i - 1 : i + 1];
    if (!other) return;
    if (up) list.insertBefore(other, row.nextSibling);
    else list.insertBefore(other, row);
    renumber(list);
    if (button.disabled) row.querySelector('[data-move="' + (up ? "down" : "up") + '"]').focus();
    var label = row.querySelector('input[name$="-label"]');
    var status = form.querySelector("[data-move-status]");
    if (status) {
      var what = label && label.value.trim() ? "“" + label.value.trim() + "”" : "The question";
      status.textContent = what + " is now " + (questions(list).indexOf(row) + 1) + " of " + rows.length + ".";
    }
  }

  // A choice question shows its options box; other kinds don't need one.
  function syncChoices(row) {
    var kind = row.querySelector('select[name$="-kind"]');
    var choices = row.querySelector("[data-choices]");
    if (kind && choices) choices.hidden = kind.value !== "choice";
  }

  // A date closed all day needs no hours.
  function syncClosed(row) {
    var closed = row.querySelector('input[type=checkbox][name$="-closed"]');
    var ranges = row.querySelector("[data-ranges]");
    if (closed && ranges) ranges.hidden = closed.checked;
  }

  function enhance(root) {
    root.querySelectorAll(".remove-check").forEach(function (label) { label.hidden = true; });
    root.querySelectorAll("[data-js]").forEach(function (el) { el.hidden = false; });
    var rows = root.matches("[data-row]") ? [root] : root.querySelectorAll("[data-row]");
    Array.prototype.forEach.call(rows, function (row) {
      syncChoices(row);
      syncClosed(row);
    });
  }

  // One listener for every control, rows added later included.
  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[type=button]");
    if (!button || !form.contains(button)) return;
    if (button.hasAttribute("data-add-to")) addRow(button);
    else if (button.hasAttribute("data-remove-range")) removeRange(button.closest("[data-range]"));
    else if (button.hasAttribute("data-remove-row")) removeRow(button.closest("[data-row]"));
    else if (button.hasAttribute("data-move")) move(button);
  });
  form.addEventListener("change", function (event) {
    var row = event.target.closest("[data-row]");
    if (!row) return;
    if (event.target.matches('select[name$="-kind"]')) syncChoices(row);
    if (event.target.matches('input[name$="-closed"]')) syncClosed(row);
  });

  enhance(form);
  form.querySelectorAll("[data-list]").forEach(changed);

  if (form.hasAttribute("data-new-page")) {
    // A new page starts in the browser's own time zone, and its address follows its title
    // until someone edits the address by hand.
    var zone = form.querySelector('input[name="timezone"]');
    if (zone && !zone.value && window.Intl) {
      zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    }
    var title = form.querySelector('input[name="title"]');
    var slug = form.querySelector('input[name="slug"]');
    if (title && slug) {
      var touched = slug.value !== "";
      slug.addEventListener("input", function () { touched = true; });
      title.addEventListener("input", function () {
        if (touched) return;
        slug.value = title.value.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
          .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64).replace(/-+$/, "");
      });
    }
  }
})();
