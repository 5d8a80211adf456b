use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
struct Ping {
    sequence: u64,
}

// The stub impl keeps uses of the type free of follow-on errors.
fn takes_message<M: ractor::Message>() {}

fn main() {
    takes_message::<Ping>();
}
