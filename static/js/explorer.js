// Autocomplete for the explorer's comma-separated classes: the datalist offers the chosen model's
// class names after whatever the field already holds, so each class can be picked in turn.
(function () {
  "use strict";
  var input = document.getElementById("id_classes");
  var list = document.getElementById("class-names");
  var model = document.getElementById("id_model");
  var data = document.getElementById("explorer-categories");
  if (!input || !list || !model || !data) return;
  var categories = JSON.parse(data.textContent);

  function refresh() {
    var names = categories[model.value] || [];
    var text = input.value;
    var cut = text.lastIndexOf(",");
    var head = cut >= 0 ? text.slice(0, cut + 1) + " " : "";
    var typed = (cut >= 0 ? text.slice(cut + 1) : text).trim().toLowerCase();
    var taken = head.split(",").map(function (s) { return s.trim(); });
    var shown = 0;
    list.textContent = "";
    for (var i = 0; i < names.length && shown < 50; i++) {
      var name = names[i];
      if (taken.indexOf(name) >= 0 || name.toLowerCase().indexOf(typed) !== 0) continue;
      var option = document.createElement("option");
      option.value = head + name;
      list.appendChild(option);
      shown++;
    }
  }
  input.addEventListener("input", refresh);
  input.addEventListener("focus", refresh);
  model.addEventListener("change", refresh);
})();
