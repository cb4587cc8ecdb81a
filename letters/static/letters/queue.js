// The print queue: a "select all" box for the letters on the page. Works without it too.
document.addEventListener("change", (event) => {
  const box = event.target.closest("[data-select-all]");
  if (!box) return;
  const form = box.closest("form");
  form.querySelectorAll(`input[name="${box.dataset.selectAll}"]:not(:disabled)`).forEach((input) => {
    input.checked = box.checked;
  });
});
