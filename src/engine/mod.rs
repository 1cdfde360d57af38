//! The probe engine: sender threads, receiver, tracker, summary. (being written)
