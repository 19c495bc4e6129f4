// Web entry: after each change, re-render the fields on the server (relevance, choice filters,
// calculations) with the same evaluator as validation, then put the focus back where it was.
//
// No answer may be lost to the re-render (issue 14): a response is applied only if it is the answer to
// the latest request AND the form still holds exactly the values that request was sent with. A reply
// that arrives after the user typed, ticked or picked something else is dropped: that later change has
// sent (or, for text being typed, will send on blur) its own request with every current value.
(function () {
  "use strict";
  var sequence = 0;

  function snapshot(form) {
    var pairs = [];
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string") { pairs.push(encodeURIComponent(key) + "=" + encodeURIComponent(value)); }
    });
    return pairs.join("&");
  }

  function refresh(form) {
    var url = form.getAttribute("data-fields-url");
    var target = document.getElementById("entry-fields");
    if (!url || !target) { return; }
    var mine = ++sequence;
    var sent = snapshot(form);
    var token = form.querySelector("input[name=csrf_token]");
    form.setAttribute("aria-busy", "true");
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token ? token.value : "" }
    }).then(function (response) {
      if (!response.ok) { return null; }
      return response.text();
    }).then(function (html) {
      if (mine !== sequence) { return; }  // a newer request is under way: its reply will be applied
      form.removeAttribute("aria-busy");
      if (html === null || snapshot(form) !== sent) { return; }  // the user changed something meanwhile
      var focused = document.activeElement;
      var focusedId = focused ? focused.id : "";
      var caret = null;
      try { caret = focused && typeof focused.selectionStart === "number" ? [focused.selectionStart, focused.selectionEnd] : null; } catch (e) { caret = null; }
      target.innerHTML = html;
      target.setAttribute("data-refreshed", String(Date.now()));
      if (focusedId) {
        var again = document.getElementById(focusedId);
        if (again) {
          again.focus();
          if (caret) { try { again.setSelectionRange(caret[0], caret[1]); } catch (e) { /* not a text input */ } }
        }
      }
    }, function () {
      if (mine === sequence) { form.removeAttribute("aria-busy"); }
    });
  }

  document.addEventListener("change", function (event) {
    var form = event.target && event.target.closest ? event.target.closest("form[data-fields-url]") : null;
    if (form) { refresh(form); }
  });
})();
