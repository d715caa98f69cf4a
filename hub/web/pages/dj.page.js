// Placeholder: the dj page lands with its own commit.
import "./base.css";
import "./dj.css";
