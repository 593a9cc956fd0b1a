// dasb leaderboard: sorting by column and filtering by kind and bitrate. Written for this site,
// inlined into each page; it reads only the page itself (data-* attributes), never the network.
"use strict";
(function () {
  function key(td, numeric) {
    if (!td) return null;
    if (!numeric) return td.textContent.trim().toLowerCase();
    var v = td.getAttribute("data-v");
    return v === null || v === "" ? null : parseFloat(v);
  }

  // Missing values (errors, skipped, no bitrate) always sort last, whatever the direction.
  function sortBy(th) {
    var table = th.closest("table");
    var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[idx], numeric), y = key(b.cells[idx], numeric);
      if (x === null || y === null) return (x === null) - (y === null);
      if (x === y) return 0;
      return (x < y) === asc ? -1 : 1;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function applyFilters() {
    var kind = document.getElementById("f-kind").value;
    var lo = parseFloat(document.getElementById("f-min").value);
    var hi = parseFloat(document.getElementById("f-max").value);
    var shown = 0, total = 0;
    document.querySelectorAll("table.lb tbody tr").forEach(function (tr) {
      var k = parseFloat(tr.getAttribute("data-kbps"));
      var ok = kind === "" || tr.getAttribute("data-kind") === kind;
      if (!isNaN(lo)) ok = ok && !isNaN(k) && k >= lo;
      if (!isNaN(hi)) ok = ok && !isNaN(k) && k <= hi;
      tr.hidden = !ok;
      total += 1;
      if (ok) shown += 1;
    });
    var count = document.getElementById("f-count");
    if (count) count.textContent = shown + " of " + total + " rows shown";
  }

  document.querySelectorAll("table.lb th[data-type]").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(th); });
  });
  if (document.getElementById("f-kind")) {
    ["f-kind", "f-min", "f-max"].forEach(function (id) {
      document.getElementById(id).addEventListener("input", applyFilters);
    });
    applyFilters();
  }
  document.body.setAttribute("data-ready", "1");
})();
