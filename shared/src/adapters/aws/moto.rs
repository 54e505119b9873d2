//! A moto_server child process for tests and the local runtime's aws backend.
//!
//! The server runs under a small `sh` supervisor whose stdin is a pipe held by
//! [`MotoServer`]: when this process exits for any reason (a panic, an abort, a killed
//! test binary) the pipe closes and the supervisor kills moto, so no server outlives the
//! tests. Dropping the struct does the same, deliberately.

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

const NOT_FOUND: &str =
    "moto_server not found: run ./scripts/test (it installs the pinned moto[server] into .venv) or set MOTO_SERVER";
const STARTUP: Duration = Duration::from_secs(30);

/// Runs moto (`$1`, port `$2`) in the background and kills it once stdin reaches EOF;
/// exits when moto does, so a server that failed to start is noticed at once. fd 3
/// keeps the pipe because a background job's stdin is /dev/null.
const SUPERVISOR: &str = r#"exec 3<&0
"$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 &
pid=$!
( read _eof <&3; kill "$pid" 2>/dev/null ) &
wait "$pid""#;

/// A running moto_server on 127.0.0.1.
pub struct MotoServer {
    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub endpoint: String,
    child: Child,
    /// The supervisor's stdin; closing it stops the server.
    stdin: Option<ChildStdin>,
}

impl MotoServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> io::Result<MotoServer> {
        let binary = find_binary(
            std::env::var_os("MOTO_SERVER"),
            Path::new(env!("CARGO_MANIFEST_DIR")),
            std::env::var_os("PATH"),
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new("sh")
            .args(["-c", SUPERVISOR, "moto-supervisor"])
            .arg(&binary)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut server = MotoServer { endpoint: format!("http://127.0.0.1:{port}"), child, stdin };
        server.wait_until_listening(port, &binary)?;
        Ok(server)
    }

    /// One server for the whole test binary, started on first use. Panics (failing the
    /// test) with the start error, e.g. when moto_server is not installed.
    pub fn shared() -> &'static MotoServer {
        static SERVER: OnceLock<MotoServer> = OnceLock::new();
        SERVER.get_or_init(|| MotoServer::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// An SDK configuration pointing at this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    fn wait_until_listening(&mut self, port: u16, binary: &Path) -> io::Result<()> {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(250)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let message = format!("{} exited before listening on port {port} ({status})", binary.display());
                return Err(io::Error::other(message));
            }
            if Instant::now() >= deadline {
                let message = format!("{} not listening on port {port} after {STARTUP:?}", binary.display());
                return Err(io::Error::new(io::ErrorKind::TimedOut, message));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// An SDK configuration for moto at `endpoint`: static test credentials, `us-east-1`,
/// so nothing is read from the developer's AWS profile or the instance metadata.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
        .load()
        .await
}

/// A name unique within this process and across runs against one server:
/// `tag-<pid>-<n>`, made of characters every AWS resource name accepts.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `MOTO_SERVER`, else `.venv/bin/moto_server` in the nearest ancestor of `start` that
/// has a `.venv`, else `moto_server` on `path`.
fn find_binary(env: Option<OsString>, start: &Path, path: Option<OsString>) -> io::Result<PathBuf> {
    if let Some(binary) = env.filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(binary));
    }
    if let Some(venv) = start.ancestors().map(|dir| dir.join(".venv")).find(|venv| venv.is_dir()) {
        let binary = venv.join("bin").join("moto_server");
        if binary.is_file() {
            return Ok(binary);
        }
    }
    let on_path = path.iter().flat_map(std::env::split_paths).map(|dir| dir.join("moto_server")).find(|b| b.is_file());
    on_path.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, NOT_FOUND))
}

#[cfg(test)]
#[cfg(feature = "moto")]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let empty = std::env::temp_dir().join(unique_name("no-moto"));
        std::fs::create_dir_all(&empty).expect("temp dir");
        let error = find_binary(None, &empty, Some(empty.clone().into_os_string())).expect_err("nothing to find");
        assert_eq!(error.to_string(), NOT_FOUND);
        let _ = std::fs::remove_dir(&empty);
    }

    #[test]
    fn the_environment_variable_wins() {
        let found = find_binary(Some("/opt/moto".into()), Path::new("/"), None).expect("env");
        assert_eq!(found, PathBuf::from("/opt/moto"));
    }

    #[test]
    fn dropping_the_server_stops_it() {
        let server = MotoServer::start().expect("moto_server starts");
        let address: SocketAddr = server.endpoint.trim_start_matches("http://").parse().expect("address");
        assert!(TcpStream::connect(address).is_ok());
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(address).is_ok() {
            assert!(Instant::now() < deadline, "moto_server still listening after drop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
