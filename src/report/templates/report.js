// Sortable tables and collapsed long tables; no library, nothing fetched.
(function () {
  "use strict";

  // Rows past data-show get the class "extra" (hidden while the table is collapsed).
  function applyCollapse(table) {
    var show = parseInt(table.getAttribute("data-show") || "0", 10);
    if (!show) { return; }
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) {
      row.classList.toggle("extra", i >= show);
    });
  }

  // The value a cell sorts by: its data-sort, else its text; empty: no value (sorted last).
  function key(cell, numeric) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "") { return null; }
    if (numeric) {
      var value = parseFloat(raw);
      return isNaN(value) ? null : value;
    }
    return raw;
  }

  // Click: ascending, click again: descending. Empty cells stay last; ties keep page order.
  function sortBy(table, index, th) {
    var numeric = th.classList.contains("num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], numeric), y = key(b.cells[index], numeric);
      if (x === null || y === null) {
        return (x === null) - (y === null) || a.getAttribute("data-order") - b.getAttribute("data-order");
      }
      var order = numeric ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
      return (ascending ? order : -order) || a.getAttribute("data-order") - b.getAttribute("data-order");
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    applyCollapse(table);
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) {
      row.setAttribute("data-order", i);
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.querySelector("button").addEventListener("click", function () {
        sortBy(table, index, th);
      });
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("button.toggle"), function (button) {
    var table = button.parentNode.querySelector("table.data");
    button.addEventListener("click", function () {
      var collapsed = table.classList.toggle("collapsed");
      button.textContent = button.getAttribute(collapsed ? "data-more" : "data-less");
      button.setAttribute("aria-expanded", collapsed ? "false" : "true");
    });
  });
})();
