//! Single-server membership changes (thesis §4.1-§4.2) and the raft-dev 2015 fix: a
//! leader starts a change only after an entry of its own term committed.

mod common;

use common::*;
use protocol::{Config, MembershipChange, NodeId, Output, Reply, Report, Role};
use raft::TIMER_ELECTION;

const ADD: fn(u32) -> MembershipChange = |i| MembershipChange::Add(NodeId(i));
const REMOVE: fn(u32) -> MembershipChange = |i| MembershipChange::Remove(NodeId(i));

/// Five nodes, of which 1-4 are the initial members and 5 a spare.
fn four_and_a_spare() -> Config {
    let mut cfg = config(5);
    cfg.members = Some(vec![n(1), n(2), n(3), n(4)]);
    cfg
}

fn ids(list: &[u32]) -> Vec<NodeId> {
    list.iter().copied().map(NodeId).collect()
}

/// n1 leads term 1 and its no-op committed on every member.
fn settled(cfg: Config) -> Cluster {
    let mut c = Cluster::new(cfg);
    c.elect(n(1));
    c.fire_heartbeat(n(1));
    c.deliver_all();
    c
}

/// `settled(cfg)`, then n1 removes n4 and the removal commits (n4 holds it).
fn n4_removed(cfg: Config) -> Cluster {
    let mut c = settled(cfg);
    c.change(n(1), REMOVE(4));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    c
}

#[test]
fn a_spare_outside_the_membership_never_campaigns() {
    let mut c = Cluster::new(four_and_a_spare());
    c.fire_election(n(5));
    assert!(c.marked("raft.non_member_does_not_campaign"));
    assert!(c.net.is_empty(), "a spare sent {:?}", c.net);
    assert_eq!(c.role(n(5)), (Role::Follower, 0));
    // It keeps a timer, so that it can stand once a change adds it.
    assert!(c.timer_set(n(5), raft::TIMER_ELECTION));
}

#[test]
fn a_configuration_entry_takes_effect_on_append_not_on_commit() {
    // Thesis §4.1: "a server always uses the latest configuration in its log".
    let mut c = settled(four_and_a_spare());
    c.change(n(1), ADD(5));
    assert!(c.marked("raft.conf_change_started"));
    assert_eq!(c.node(n(1)).members(), ids(&[1, 2, 3, 4, 5]));
    let config_index = c.node(n(1)).log().len() as u64;
    assert!(c.node(n(1)).commit_index() < config_index);
    // n2 appends it (its ack not yet delivered): in force on n2 too, uncommitted.
    assert!(c.deliver_kind(n(1), n(2), "AppendEntries"));
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4, 5]));
    assert!(c.reports.contains(&(
        n(2),
        Report::Members {
            members: ids(&[1, 2, 3, 4, 5])
        }
    )));
    // The leader ships to the new member, which learns it is one.
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.node(n(5)).members(), ids(&[1, 2, 3, 4, 5]));
    assert_eq!(c.node(n(5)).log(), c.node(n(1)).log());
    assert!(c.node(n(1)).commit_index() >= config_index);
}

#[test]
fn the_commit_quorum_is_a_majority_of_the_latest_configuration() {
    // After adding n5 the cluster has five members: n1 with n2 (two of five) does not
    // commit; with n3 too (three of five) it does.
    let mut c = settled(four_and_a_spare());
    c.change(n(1), ADD(5));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    for id in [3, 4, 5] {
        c.cut(n(1), n(id));
    }
    let op = c.client(n(1), write("x", 1));
    c.deliver_all();
    assert_eq!(c.reply(op), None, "committed with two of five");
    c.heal_link(n(1), n(3));
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert!(c.reply(op).is_some(), "three of five did not commit");
}

#[test]
fn removing_a_member_shrinks_the_quorum_at_once() {
    // Four members need three; once n4 is removed (appended, not yet committed), n1 and
    // n2 are a majority of {1, 2, 3}.
    let mut c = settled(four_and_a_spare());
    c.cut(n(1), n(3));
    c.cut(n(1), n(4));
    let op = c.client(n(1), write("x", 1));
    c.deliver_all();
    assert_eq!(c.reply(op), None, "committed with two of four");
    c.change(n(1), REMOVE(4));
    assert_eq!(c.node(n(1)).members(), ids(&[1, 2, 3]));
    c.deliver_all();
    assert!(c.reply(op).is_some(), "two of three did not commit");
}

#[test]
fn a_second_change_waits_until_the_first_commits() {
    let mut c = settled(four_and_a_spare());
    c.change(n(1), ADD(5));
    c.change(n(1), REMOVE(4));
    assert!(c.marked("raft.conf_change_waits_for_previous"));
    assert_eq!(c.node(n(1)).members(), ids(&[1, 2, 3, 4, 5]));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    c.change(n(1), REMOVE(4));
    assert_eq!(c.node(n(1)).members(), ids(&[1, 2, 3, 5]));
}

#[test]
fn a_new_leader_starts_no_change_before_an_entry_of_its_term_commits() {
    // raft-dev 2015: the fix to the single-server algorithm.
    let mut c = Cluster::new(four_and_a_spare());
    c.fire_election(n(1));
    for id in [2, 3, 4] {
        c.deliver_kind(n(1), n(id), "RequestVote");
    }
    for id in [2, 3] {
        c.deliver_kind(n(id), n(1), "RequestVoteResp");
    }
    assert_eq!(c.role(n(1)).0, Role::Leader);
    c.change(n(1), ADD(5));
    assert!(c.marked("raft.conf_change_waits_for_term_commit"));
    assert_eq!(c.node(n(1)).members(), ids(&[1, 2, 3, 4]));
    c.deliver_all();
    c.change(n(1), ADD(5));
    assert!(c.marked("raft.conf_change_started"));
}

#[test]
fn a_change_goes_to_the_leader_only() {
    let mut c = settled(four_and_a_spare());
    c.change(n(2), ADD(5));
    assert!(c.marked("raft.conf_change_not_leader"));
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4]));
}

#[test]
fn a_truncated_configuration_entry_gives_way_to_the_previous_one() {
    // Five members; n1 appends "remove n5" and reaches only n2. n3 leads term 2 with n4
    // and n5, then overwrites n2's copy: n2 is back to five members.
    let mut c = settled(config(5));
    for id in [3, 4, 5] {
        c.cut(n(1), n(id));
    }
    c.change(n(1), REMOVE(5));
    c.deliver_all();
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4]));
    c.cut(n(1), n(2));
    c.cut(n(2), n(3));
    c.elect(n(3));
    c.heal_link(n(2), n(3));
    c.client(n(3), write("x", 1));
    for _ in 0..3 {
        c.fire_heartbeat(n(3));
        c.deliver_all();
    }
    assert!(c.marked("raft.conf_entry_truncated"));
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4, 5]));
    assert!(c.reports.contains(&(
        n(2),
        Report::Members {
            members: ids(&[1, 2, 3, 4, 5])
        }
    )));
}

#[test]
fn a_leader_that_removes_itself_steps_down_once_the_removal_commits() {
    // Thesis §4.2.2: it keeps leading, without counting itself, until then.
    let mut c = settled(four_and_a_spare());
    c.change(n(1), REMOVE(1));
    assert_eq!(c.role(n(1)).0, Role::Leader);
    assert_eq!(c.node(n(1)).members(), ids(&[2, 3, 4]));
    c.deliver_all();
    assert!(c.marked("raft.removed_leader_steps_down"));
    assert_eq!(c.role(n(1)).0, Role::Follower);
    // Removed, it never campaigns again; the others elect a leader among themselves.
    c.fire_election(n(1));
    assert!(c.net.is_empty());
    c.elect(n(2));
}

#[test]
fn a_configuration_survives_a_restart_as_part_of_the_durable_log() {
    let mut c = settled(four_and_a_spare());
    c.change(n(1), ADD(5));
    c.deliver_all();
    c.crash(n(2));
    c.restart(n(2));
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4, 5]));
    assert!(
        c.reports
            .iter()
            .filter(|(id, r)| *id == n(2) && matches!(r, Report::Members { .. }))
            .count()
            >= 2
    );
}

/// Ongaro's raft-dev (2015) counterexample: four members; n1 (term 1) adds n5 and reaches
/// only n5; n2 wins term 2 with n3 and n4, n4 is cut off before n2's no-op reaches it,
/// and n2 asks to remove n4. Returns the cluster at that point.
fn two_changes_from_one_committed_configuration(bug: bool) -> Cluster {
    let mut cfg = four_and_a_spare();
    if bug {
        cfg.bugs
            .insert("raft.conf_change_before_term_commit".to_string());
    }
    let mut c = settled(cfg);
    for id in [2, 3, 4] {
        c.cut(n(1), n(id));
    }
    c.change(n(1), ADD(5));
    c.deliver_all();
    assert_eq!(c.node(n(5)).members(), ids(&[1, 2, 3, 4, 5]));
    c.cut(n(2), n(5));
    c.fire_election(n(2));
    for id in [3, 4] {
        c.deliver_kind(n(2), n(id), "RequestVote");
        c.deliver_kind(n(id), n(2), "RequestVoteResp");
    }
    assert_eq!(c.role(n(2)), (Role::Leader, 2));
    c.cut(n(2), n(4));
    c.change(n(2), REMOVE(4));
    c.deliver_all();
    c
}

#[test]
fn with_the_fix_the_second_change_waits_and_no_committed_entry_is_lost() {
    let c = two_changes_from_one_committed_configuration(false);
    assert!(c.marked("raft.conf_change_waits_for_term_commit"));
    // n2's no-op cannot commit (n2 and n3 are two of four), so nothing of term 2 did.
    assert!(c.commits(n(2)).iter().all(|&(_, term, _)| term == 1));
    assert_eq!(c.node(n(2)).members(), ids(&[1, 2, 3, 4]));
}

#[test]
fn without_the_fix_two_leaders_commit_different_entries_at_one_index() {
    let mut c = two_changes_from_one_committed_configuration(true);
    assert!(c.marked("raft.conf_change_before_term_commit"));
    // n2 and n3 are a majority of {1, 2, 3}: the removal and the no-op commit.
    let config_index = c.node(n(2)).log().len() as u64;
    assert!(c.node(n(2)).commit_index() >= config_index);
    let (index, term, _) = *c.commits(n(2)).last().expect("n2 committed");
    assert_eq!(term, 2);
    // n1, under {1..5}, reaches n4 (which never saw term 2's entries) and n5: it learns
    // of term 2 from n4, stands in term 3 and wins with three of five.
    c.heal_link(n(1), n(4));
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.role(n(1)), (Role::Follower, 2));
    c.elect(n(1));
    assert_eq!(c.role(n(1)), (Role::Leader, 3));
    c.fire_heartbeat(n(1));
    c.deliver_all();
    let lost = c
        .commits(n(1))
        .into_iter()
        .find(|&(i, t, _)| i <= index && t == 1 && c.node(n(2)).log()[i as usize - 1].term == 2);
    assert!(
        lost.is_some(),
        "n1 committed {:?}, n2 committed {:?}",
        c.commits(n(1)),
        c.commits(n(2))
    );
}

#[test]
fn a_removed_server_that_is_up_learns_of_its_removal_and_stays_quiet() {
    // The leader keeps shipping to it until the removal commits; having the entry, it
    // knows it is out and never campaigns (thesis §4.2.3's disruptive server).
    let mut c = n4_removed(four_and_a_spare());
    assert_eq!(c.node(n(4)).members(), ids(&[1, 2, 3]));
    c.fire_election(n(4));
    assert!(c.net.is_empty(), "a removed server campaigned: {:?}", c.net);
    // Once the removal committed, the leader no longer writes to it.
    c.client(n(1), write("x", 1));
    assert!(c.net.iter().all(|e| e.to != n(4)));
}

#[test]
fn a_removed_server_that_hears_no_leader_for_an_election_timeout_names_none() {
    // Thesis §6.2: a follower discards the leader it knows when it starts an election,
    // else two servers may redirect a client to each other for ever. A removed server
    // never starts one, so it discards the name when its timer fires (as hashicorp/raft's
    // follower does on a heartbeat timeout). Raft swarm seed 89132: removed n3 named n2,
    // lost for good, and removed n4 named n3; the only client went between them.
    let mut c = n4_removed(four_and_a_spare());
    assert_eq!(c.node(n(4)).members(), ids(&[1, 2, 3]));
    // Fresh from the leader's word, it still names it.
    let op = c.client(n(4), write("x", 1));
    assert_eq!(c.reply(op), Some(&Reply::NotLeader { hint: Some(n(1)) }));
    c.fire_election(n(4));
    assert!(c.marked("raft.non_member_does_not_campaign"));
    assert!(c.marked("raft.non_member_forgets_silent_leader"));
    assert!(c.net.is_empty(), "a removed server campaigned: {:?}", c.net);
    assert_eq!(c.node(n(4)).leader_hint(), None);
    let op = c.client(n(4), write("x", 2));
    assert_eq!(c.reply(op), Some(&Reply::NotLeader { hint: None }));
}

/// `n4_removed(four_and_a_spare())`, then n4 crashes and restarts (forgetting that its
/// removal committed); with the minimum election timeout, for which members that heard a
/// leader refuse its votes.
fn n4_removed_then_restarted() -> (Cluster, std::time::Duration) {
    let cfg = four_and_a_spare();
    let fence = cfg.election_timeout.0;
    let mut c = n4_removed(cfg);
    c.crash(n(4));
    c.restart(n(4));
    (c, fence)
}

#[test]
fn a_restarted_removed_server_campaigns_again_but_deposes_no_leader_its_members_hear() {
    // Thesis §4.2.3: a restart wipes the commit index, so n4 no longer knows its removal
    // committed and campaigns again (§4.2.2), and no leader ships to it any more. With no
    // pre-vote, check-quorum or lease, members that hear their leader still neither take
    // its term nor vote for it (raft swarm seed 21944: three such servers kept a cluster
    // leaderless).
    let (mut c, fence) = n4_removed_then_restarted();
    c.fire_election(n(4));
    assert!(c.marked("raft.non_member_campaigns_until_its_removal_commits"));
    assert_eq!(c.role(n(4)), (Role::Candidate, 2));
    c.deliver_all();
    assert!(c.marked("raft.non_member_vote_fenced"));
    assert_eq!(c.role(n(1)), (Role::Leader, 1));
    for id in [2, 3] {
        assert_eq!(c.role(n(id)), (Role::Follower, 1));
    }
    // A member that no longer hears a leader listens again: the removed server may hold
    // what must commit (§4.2.2), and the vote goes by the log (§4.1).
    c.advance(fence);
    c.fire_election(n(4));
    c.deliver_kind(n(4), n(2), "RequestVote");
    assert_eq!(c.role(n(2)).1, 3);
}

#[test]
fn a_member_that_votes_for_a_removed_server_keeps_its_own_election_timer() {
    // Figure 2 restarts the timer of a server that grants a vote, so that it does not stand
    // against the candidate it chose. A removed server stands only in case it is needed
    // (§4.2.2), and hears of no term but by the answers to its own RequestVotes, so it
    // often asks for a term the members already voted in, and cannot win it. Restarted
    // by each such grant, a member whose log could win never stood (Raft soak seed 4399:
    // removed n3 asked n2 for one spent term after another, for 9.5 s after the heal).
    let (mut c, fence) = n4_removed_then_restarted();
    c.crash(n(1));
    c.advance(fence);
    c.record_outputs = true;
    let restarts = |c: &Cluster| {
        c.nodes[&n(2)]
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::SetTimer { timer, .. } if *timer == TIMER_ELECTION))
            .count()
    };
    let voted_for = |c: &Cluster, candidate: NodeId| {
        c.reports.iter().any(|(who, r)| {
            *who == n(2) && matches!(r, Report::Vote { candidate: x, .. } if *x == candidate)
        })
    };
    c.fire_election(n(4));
    assert!(c.marked("raft.non_member_campaigns_until_its_removal_commits"));
    assert!(c.deliver_kind(n(4), n(2), "RequestVote"));
    assert!(voted_for(&c, n(4)));
    assert_eq!(restarts(&c), 0);
    // A member's candidacy, for the next term, restarts it, as Figure 2 says.
    assert!(c.deliver_kind(n(4), n(3), "RequestVote"));
    c.fire_election(n(3));
    assert!(c.deliver_kind(n(3), n(2), "RequestVote"));
    assert!(voted_for(&c, n(3)));
    assert_eq!(restarts(&c), 1);
}

#[test]
fn an_initial_membership_must_be_distinct_ascending_voters() {
    use protocol::Protocol;
    for (members, says) in [
        (vec![], "at least one"),
        (vec![n(1), n(6)], "n6 is not a voting node"),
        (vec![n(2), n(1)], "ascending"),
        (vec![n(1), n(1)], "distinct"),
    ] {
        let mut cfg = config(5);
        cfg.members = Some(members);
        let e = raft::Raft::check_config(&cfg).expect_err(says);
        assert_eq!(e.field, "options.members");
        assert!(e.message.contains(says), "{e}");
    }
    assert!(raft::Raft::check_config(&four_and_a_spare()).is_ok());
}

#[test]
fn a_removed_server_a_lagging_candidate_counts_on_campaigns_and_leads_until_its_term_commits() {
    // Thesis §4.2.2: a server outside its latest configuration still starts elections
    // while it may be needed. A RequestVote goes only to the candidate's members, so one
    // reaching removed n3 says that a configuration n3 has not received (n3 added back,
    // its leader then lost) counts it; a candidate behind n3's log can never have n3's
    // vote (Raft §5.4.1), and only n3 may be able to win. Raft swarm seed 3901: n4 had
    // added n3 back, n3 held newer entries than n4, n2 lagged both, and the survivors
    // elected no one for the last 10 s. Elected, n3 stays until its no-op commits: its
    // log then replaces, on a quorum, what kept the others from winning.
    let cfg = config(4);
    let fence = cfg.election_timeout.0;
    let mut c = settled(cfg);
    c.change(n(1), REMOVE(3));
    c.deliver_all();
    c.fire_heartbeat(n(1));
    c.deliver_all();
    assert_eq!(c.node(n(3)).members(), ids(&[1, 2, 4]));
    c.crash(n(1));
    c.advance(fence);
    // Not asked, it keeps quiet.
    c.fire_election(n(3));
    assert!(c.marked("raft.non_member_does_not_campaign"));
    assert!(c.net.is_empty(), "a removed server campaigned: {:?}", c.net);
    c.inject(protocol::testkit::Envelope {
        from: n(4),
        to: n(3),
        msg: raft::Message::RequestVote {
            term: 2,
            last_log_index: 1,
            last_log_term: 1,
        },
    });
    c.deliver_all();
    assert!(c.marked("raft.non_member_needed_by_lagging_candidate"));
    c.fire_election(n(3));
    assert!(c.marked("raft.non_member_campaigns_for_a_lagging_candidate"));
    assert_eq!(c.role(n(3)), (Role::Candidate, 3));
    c.deliver_all();
    assert_eq!(c.leaders_of_term(3), vec![n(3)]);
    // Its no-op reached the members and committed before it stepped down.
    assert!(c.commits(n(3)).iter().any(|&(_, term, _)| term == 3));
    for id in [2, 4] {
        assert_eq!(c.log_terms(n(id)).last(), Some(&3), "n{id}");
    }
    assert!(c.marked("raft.removed_leader_steps_down"));
    assert_eq!(c.role(n(3)), (Role::Follower, 3));
}
