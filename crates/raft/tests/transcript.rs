//! Golden transcripts (as etcd-io/raft's testdata): every input and output of a short
//! run, so that a change of behaviour shows up in review as a changed line.

mod common;

use common::*;

#[test]
fn transcript_of_an_election_and_one_replicated_write() {
    // Raft §5.2 and §5.3 step by step, with writes completing at once.
    let mut c = Cluster::new(config(3));
    c.formats = FORMATS;
    c.start_transcript();
    c.fire_election(n(1));
    c.deliver_all();
    c.client(n(1), write("x", 1));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    let got = c.take_transcript();
    let want = include_str!("transcripts/election_and_write.txt");
    if got.trim_end() != want.trim_end() {
        panic!("transcript changed; new transcript:\n{got}");
    }
}
