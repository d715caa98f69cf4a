// Placeholder: the overlay page lands with its own commit.
import "./base.css";
import "./overlay.css";
