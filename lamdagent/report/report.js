// Links the lineage graph and the trials table: click a model to find its trial, and a trial row to find its model.
(function () {
  "use strict";
  function flash(row) {
    row.classList.add("flash");
    row.scrollIntoView({ behavior: "smooth", block: "center" });
    window.setTimeout(function () { row.classList.remove("flash"); }, 1600);
  }
  function select(model) {
    document.querySelectorAll("svg.lineage .node.selected").forEach(function (n) { n.classList.remove("selected"); });
    document.querySelectorAll("svg.lineage .node").forEach(function (n) {
      if (n.getAttribute("data-model") === model) { n.classList.add("selected"); }
    });
  }
  document.querySelectorAll("svg.lineage .node").forEach(function (node) {
    function open() {
      select(node.getAttribute("data-model"));
      var trial = node.getAttribute("data-trial");
      var row = trial && document.getElementById("trial-" + trial);
      if (row) { flash(row); }
    }
    node.addEventListener("click", open);
    node.addEventListener("keydown", function (e) { if (e.key === "Enter") { open(); } });
  });
  document.querySelectorAll("table.trials tbody tr").forEach(function (row) {
    row.addEventListener("click", function () {
      var model = row.getAttribute("data-model");
      if (model) { select(model); }
    });
  });
}());
