/* When a button's request fails, say so at the top of the page: htmx itself shows nothing, and the
   button would seem to do nothing. A stale page (its security token replaced by signing in again in
   another window) is answered 403, and a lost connection never reaches the server: nothing was saved
   in either case. One message at a time, replaced by the next. */
(function () {
  function show(text) {
    var main = document.getElementById("main");
    if (!main) return;
    var box = document.getElementById("request-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "request-problem";
      box.className = "alert alert-danger";
      box.setAttribute("role", "alert");
      main.insertBefore(box, main.firstChild);
    }
    box.textContent = text;
    box.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      show("This page is out of date, perhaps because you signed in again in another window. Reload the page and try again: nothing was saved.");
    } else if (status === 404) {
      show("That is no longer here, or not yours to change. Reload the page to see how things stand now: nothing was saved.");
    } else {
      show("Something went wrong on the server (" + status + "), and that may not have been saved. Reload the page to see how things stand, then try again; if it happens again, tell the attendance lead.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    show("The app could not be reached: check the connection, then try again. Nothing was saved.");
  });
})();
