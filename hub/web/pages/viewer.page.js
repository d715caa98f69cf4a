// Placeholder: the viewer page lands with its own commit.
import "./base.css";
import "./viewer.css";
