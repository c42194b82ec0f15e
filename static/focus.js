// Moves focus to what a page opens with after an action: the summary of a form's errors, or
// the outcome of a confirmation or a cancellation. A static file: the CSP refuses inline
// scripts. Deferred, so the element is in the page when this runs.
(function () {
  var target = document.querySelector("[data-app-focus]");
  if (target) {
    target.focus();
  }
})();
