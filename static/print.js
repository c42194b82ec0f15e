// A button marked data-app-print prints the page. A file of its own: the
// Content-Security-Policy allows no inline script nor onclick attribute.
document.querySelectorAll("[data-app-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
