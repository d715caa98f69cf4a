// Placeholder entry so the build has something to bundle; replaced by the overlay page.
import "./overlay.css";
