// The ladder editor: a problem's "line 120, stage ..." link selects that line in the text box and
// scrolls it into view, as the box has no line numbers of its own (it does not wrap: one row a line).
document.addEventListener("click", (event) => {
  const link = event.target.closest("a.go-to-line");
  const box = document.getElementById("id_text");
  if (!link || !box) return;
  event.preventDefault();
  const lines = box.value.split("\n");
  const line = Math.min(Math.max(parseInt(link.dataset.line, 10) || 1, 1), lines.length);
  const start = lines.slice(0, line - 1).reduce((chars, text) => chars + text.length + 1, 0);
  box.focus();
  box.setSelectionRange(start, start + lines[line - 1].length);
  const rowHeight = parseFloat(getComputedStyle(box).lineHeight) || 18;
  box.scrollTop = Math.max(0, (line - 4) * rowHeight);
  box.scrollIntoView({ block: "nearest" });
});
