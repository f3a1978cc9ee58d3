// The booking-page editor's small enhancements. Everything works without them: each list
// always has a blank row to fill in, and "Remove" is a checkbox the server understands.
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

  // Add a row: clone the list's <template>, numbered as the next form of its formset.
  function addRow(button) {
    var prefix = button.getAttribute("data-add-row");
    var total = form.querySelector('input[name="' + prefix + '-TOTAL_FORMS"]');
    var template = document.getElementById(button.getAttribute("data-template"));
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    var list = button.parentElement.querySelector('[data-rows="' + prefix + '"]');
    list.appendChild(row);
    total.value = String(index + 1);
    enhance(row);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }

  // Remove a row: tick its DELETE box (so the server drops it) and hide it.
  function removeRow(row) {
    var box = row.querySelector('input[type=checkbox][name$="-DELETE"]');
    if (box) box.checked = true;
    row.hidden = true;
    var next = row.nextElementSibling || row.parentElement.parentElement.querySelector("[data-add-row]");
    if (next && next.focus) next.focus();
  }

  // A choice question shows its options box; other kinds don't need one.
  function syncChoices(row) {
    var kind = row.querySelector('select[name$="-kind"]');
    var choices = row.querySelector("[data-choices]");
    if (kind && choices) choices.hidden = kind.value !== "choice";
  }

  function enhance(root) {
    root.querySelectorAll(".remove-check").forEach(function (label) { label.hidden = true; });
    root.querySelectorAll("[data-remove-row]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { removeRow(button.closest("[data-row]")); });
    });
    var rows = root.matches && root.matches(".question-row") ? [root] : root.querySelectorAll(".question-row");
    Array.prototype.forEach.call(rows, function (row) {
      syncChoices(row);
      var kind = row.querySelector('select[name$="-kind"]');
      if (kind) kind.addEventListener("change", function () { syncChoices(row); });
    });
  }

  form.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { addRow(button); });
  });
  enhance(form);

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

  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
})();
