// Web entry: after each change, re-render the fields on the server (relevance, choice filters,
// calculations) with the same evaluator as validation, then put the focus back where it was.
(function () {
  "use strict";
  function refresh(form) {
    var url = form.getAttribute("data-fields-url");
    var target = document.getElementById("entry-fields");
    if (!url || !target) { return; }
    var focusedId = document.activeElement ? document.activeElement.id : "";
    var token = form.querySelector("input[name=csrf_token]");
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token ? token.value : "" }
    }).then(function (response) {
      if (!response.ok) { return null; }
      return response.text();
    }).then(function (html) {
      if (html === null) { return; }
      target.innerHTML = html;
      target.setAttribute("data-refreshed", String(Date.now()));
      if (focusedId) {
        var again = document.getElementById(focusedId);
        if (again) { again.focus(); }
      }
    });
  }
  document.addEventListener("change", function (event) {
    var form = event.target && event.target.closest ? event.target.closest("form[data-fields-url]") : null;
    if (form) { refresh(form); }
  });
})();
