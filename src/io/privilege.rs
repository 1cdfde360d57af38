//! Can this process open packet sockets? Asked once, up front, so the user gets one clear
//! message instead of a failure deep inside the engine.

use super::IoError;
use super::socket::{PacketSocket, open_error};

/// Fails with `IoError::Privilege` unless this process may open AF_PACKET sockets.
pub fn check_privilege() -> Result<(), IoError> {
    // Protocol 0: the probe socket receives nothing and is closed on drop.
    PacketSocket::open(0).map(drop).map_err(open_error)
}
