// Runs before the first paint (a classic script in <head>): the saved or the system theme.
(function () {
  var saved = null;
  try { saved = localStorage.getItem("cf-theme"); } catch (e) { /* storage blocked */ }
  var dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
})();
