/**
 * `/favicon.ico`: a small icon (an SVG, which browsers take at that path too), so a browser's automatic request for
 * it is answered instead of logged as a 404 by every page load.
 */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">' +
  '<rect width="16" height="16" rx="3" fill="#222"/>' +
  '<rect x="3" y="3" width="4" height="4" fill="#eee"/><rect x="9" y="3" width="4" height="4" fill="#999"/>' +
  '<rect x="3" y="9" width="4" height="4" fill="#999"/><rect x="9" y="9" width="4" height="4" fill="#eee"/>' +
  '</svg>';
