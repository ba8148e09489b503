// The studio's new-show form: datetime-local has no time zone, so send the browser's (the
// start time then means what the host meant).
document.querySelector("#create-show [name=tz_offset]").value = new Date().getTimezoneOffset();
