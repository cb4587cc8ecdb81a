/* Keyboard focus after htmx swaps part of a page.
   The control pressed is often replaced by the swap, and the browser then drops focus to the top of the
   page. htmx itself focuses an element marked autofocus in the new content; when there is none, focus
   goes to the first field in error (a refused form), or else to the new content itself, so a keyboard
   or screen-reader user carries on where they were. */
document.addEventListener("htmx:afterSettle", function (event) {
  var target = event.detail.target;
  if (target && !target.isConnected && target.id) target = document.getElementById(target.id); // swapped outerHTML
  if (!target || !target.isConnected) return;
  var active = document.activeElement;
  if (active && active !== document.body && document.contains(active)) return; // focus is still somewhere real
  var invalid = target.querySelector(".is-invalid, [aria-invalid='true']");
  if (invalid) {
    invalid.focus();
    return;
  }
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus({ preventScroll: true });
});
