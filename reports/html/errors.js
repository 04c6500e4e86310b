// Counts the page's errors in the body's data-errors attribute, for the tests (and for
// anyone wondering why a part of the page is empty): uncaught exceptions,
// failed promises and console.error calls.
(function () {
  "use strict";
  var n = 0;
  function count(msg) {
    n++;
    var b = document.body;
    if (b) {
      b.setAttribute("data-errors", String(n));
      b.setAttribute("data-last-error", String(msg).slice(0, 300));
    }
  }
  window.addEventListener("error", function (e) { count(e.message || "error"); });
  window.addEventListener("unhandledrejection", function (e) { count("unhandled rejection: " + e.reason); });
  var orig = console.error;
  console.error = function () {
    count(Array.prototype.join.call(arguments, " "));
    return orig.apply(console, arguments);
  };
})();
