/* Keyboard focus after htmx swaps part of a page.
   The control pressed is often replaced by the swap, and the browser then drops focus to the top of the
   page. htmx itself focuses an element marked autofocus in the new content; when there is none, focus
   goes to the first field in error (a refused form), or else to the new content itself, so a keyboard
   or screen-reader user carries on where they were. Only when focus was inside what was swapped: a box
   that refreshes itself (a print or upload in progress) never takes focus. */
document.addEventListener("htmx:beforeSwap", function (event) {
  var active = document.activeElement, target = event.detail.target;
  event.detail.xhr.focusWasInside = !!(active && active !== document.body && target && target.contains(active));
});

document.addEventListener("htmx:afterSettle", function (event) {
  if (!event.detail.xhr || !event.detail.xhr.focusWasInside) return;
  var target = event.detail.target;
  if (target && !target.isConnected && target.id) target = document.getElementById(target.id); // swapped outerHTML
  if (!target || !target.isConnected) return;
  var active = document.activeElement;
  if (active && active !== document.body && document.contains(active)) return; // autofocus, or still in place
  var invalid = target.querySelector(".is-invalid, [aria-invalid='true']");
  if (invalid) {
    invalid.focus();
    return;
  }
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus({ preventScroll: true });
});

/* Escape closes the menu opened from the toggler on a narrow screen, and focus goes back to the toggler. */
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  var menu = document.getElementById("nav");
  if (!menu || !menu.classList.contains("show") || !window.bootstrap) return;
  window.bootstrap.Collapse.getOrCreateInstance(menu, { toggle: false }).hide();
  var toggler = document.querySelector('[data-bs-target="#nav"]');
  if (toggler) toggler.focus();
});
