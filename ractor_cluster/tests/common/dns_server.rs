//! A tiny authoritative DNS server on 127.0.0.1, so that DNS discovery is tested without the
//! machine's resolver: it answers A, AAAA and SRV questions from a table the test can change
//! while it runs, over UDP, and stops when dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// What the server knows: the addresses and the SRV records of each name (lower case, with the
/// final dot).
#[derive(Default)]
struct Zone {
    addresses: HashMap<String, Vec<IpAddr>>,
    services: HashMap<String, Vec<(u16, String)>>,
}

/// A running server; dropping it stops it.
pub(crate) struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    let mut name = name.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

impl DnsServer {
    pub(crate) async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = socket.local_addr().expect("local addr");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let task = tokio::spawn(serve(socket, Arc::clone(&zone)));
        Self { addr, zone, task }
    }

    /// Where the server listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the A and AAAA records of `name`.
    pub(crate) fn set_addresses(&self, name: &str, ips: &[IpAddr]) {
        let mut zone = self.zone.lock().expect("zone");
        zone.addresses.insert(key(name), ips.to_vec());
    }

    /// Sets the SRV records of `name`: `(port, target)` each.
    pub(crate) fn set_services(&self, name: &str, records: &[(u16, &str)]) {
        let mut zone = self.zone.lock().expect("zone");
        let records = records.iter().map(|(p, t)| (*p, key(t))).collect();
        zone.services.insert(key(name), records);
    }
}

async fn serve(socket: UdpSocket, zone: Arc<Mutex<Zone>>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let Some(request) = buffer.get(..len).and_then(|b| Message::from_vec(b).ok()) else {
            continue;
        };
        let response = answer(&request, &zone);
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

fn answer(request: &Message, zone: &Mutex<Zone>) -> Message {
    let mut response = Message::new();
    response
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired());
    let zone = zone.lock().expect("zone");
    let mut known = false;
    for query in request.queries() {
        response.add_query(query.clone());
        let name = query.name().clone();
        let key = key(&name.to_ascii());
        // TTL 0: every round of discovery sees the table as it is now.
        match query.query_type() {
            RecordType::A | RecordType::AAAA => {
                if let Some(ips) = zone.addresses.get(&key) {
                    known = true;
                    for ip in ips {
                        let rdata = match (ip, query.query_type()) {
                            (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
                            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
                            _ => continue,
                        };
                        response.add_answer(Record::from_rdata(name.clone(), 0, rdata));
                    }
                }
            }
            RecordType::SRV => {
                if let Some(records) = zone.services.get(&key) {
                    known = true;
                    for (port, target) in records {
                        let target = Name::from_str(target).expect("SRV target");
                        let rdata = RData::SRV(SRV::new(0, 0, *port, target));
                        response.add_answer(Record::from_rdata(name.clone(), 0, rdata));
                    }
                }
            }
            _ => {}
        }
    }
    if !known {
        response.set_response_code(ResponseCode::NXDomain);
    }
    response
}
