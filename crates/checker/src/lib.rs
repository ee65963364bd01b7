//! Histories and the checkers that judge them.
