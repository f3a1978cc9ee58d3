// Loaded in <head> without defer, before the first paint: styles under .js (the phone menu)
// apply at once instead of flashing the no-JavaScript layout. Its own file because the
// Content-Security-Policy allows no inline scripts.
document.documentElement.classList.add("js");
