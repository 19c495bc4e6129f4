// Dialogue forms: inline checks before the server's own (which stay authoritative).
(function () {
  "use strict";
  function linkDates(startId, endId) {
    var start = document.getElementById(startId);
    var end = document.getElementById(endId);
    if (!start || !end) { return; }
    function check() {
      end.min = start.value || "";
      var bad = start.value && end.value && end.value < start.value;
      end.setCustomValidity(bad ? (end.dataset.message || "The last day cannot precede the first day.") : "");
      end.setAttribute("aria-invalid", bad ? "true" : "false");
    }
    start.addEventListener("change", check);
    end.addEventListener("change", check);
    check();
  }
  document.addEventListener("DOMContentLoaded", function () {
    linkDates("start_date", "end_date");
    var due = document.getElementById("fu-due_date");
    if (due) {
      due.addEventListener("change", function () {
        var bad = due.min && due.value && due.value < due.min;
        due.setAttribute("aria-invalid", bad ? "true" : "false");
        due.setCustomValidity(bad ? "The due date cannot precede the event." : "");
      });
    }
  });
})();
