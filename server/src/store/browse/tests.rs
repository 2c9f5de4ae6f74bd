//! The console's reads on both backends.
