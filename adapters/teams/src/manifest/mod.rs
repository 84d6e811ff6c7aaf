//! What a Teams admin installs: the Teams app package for the bot ([`app_package`]: a zip of
//! `manifest.json`, `color.png` 192×192 and `outline.png` 32×32), and the PowerShell that
//! pairs callbridge's Direct Routing trunk with the tenant ([`pairing_powershell`]). Both are
//! pure functions of their input, checked up front, for the `callbridge teams manifest`
//! command.

mod package;
mod powershell;

pub use package::{MANIFEST_VERSION, PackageOptions, app_package, manifest_json};
pub use powershell::{NumberAssignment, PairingPlan, pairing_powershell};
