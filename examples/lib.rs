//! Runnable examples of `ractor_cluster`; see the files next to this one. Each says at its top how
//! to run it.
