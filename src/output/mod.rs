//! Every output format; the only place that prints findings or renders
//! diagnostics (miette lives here).
