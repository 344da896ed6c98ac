// The live part of a job page polls while money moves, and reloads the page when the job changed.
// A reload would close a form someone opened and throw away what they typed, so while a form is
// open, a field has focus or holds typed text, the poll waits.
document.addEventListener("htmx:beforeRequest", (event) => {
  const fields = document.querySelectorAll("form textarea, form input:not([type=hidden])");
  const typing = [...fields].some(
    (field) => field === document.activeElement || field.value !== field.defaultValue,
  );
  if (typing || document.querySelector("details[open] form")) event.preventDefault();
});
