use ractor_cluster::RactorClusterMessage;

#[derive(RactorClusterMessage)]
enum LogMessage<'a> {
    Line(&'a str),
}

fn main() {}
