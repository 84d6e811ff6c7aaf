//! Directory look-ups against the Microsoft sandbox (reference `teams-graph.md` §7): by object
//! id, by UPN, by mail when it differs from the UPN, the Direct Routing number, and a miss.

mod graph_support;

use callbridge_model::Email;
use callbridge_sandbox::microsoft::MicrosoftSeed;
use callbridge_teams::directory::Lookup;
use graph_support::{ALICE, CAROL, Options, start};

#[tokio::test]
async fn users_resolve_by_id_upn_and_mail_with_their_number() {
    let mut seed = MicrosoftSeed::demo();
    seed.tenants[0].users[2].mail = Some("carol.clark@contoso.test".to_owned());
    let harness = start(Options {
        seed,
        ..Options::default()
    })
    .await;
    let now = harness.now();
    let by_id = harness
        .adapter
        .resolve_user(&Lookup::Id(ALICE.parse().unwrap()), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.display_name, "Alice Adams");
    assert_eq!(by_id.phone.unwrap().as_str(), "+14255550101");

    let upn = Lookup::Address(Email::parse_lenient("Alice@Contoso.test").unwrap());
    assert_eq!(
        harness
            .adapter
            .resolve_user(&upn, now)
            .await
            .unwrap()
            .unwrap()
            .id,
        ALICE.parse().unwrap()
    );

    let mail = Lookup::Address(Email::parse_lenient("carol.clark@contoso.test").unwrap());
    let carol = harness
        .adapter
        .resolve_user(&mail, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.id, CAROL.parse().unwrap());
    assert_eq!(carol.upn.unwrap().as_str(), "carol@contoso.test");
    assert_eq!(carol.phone.unwrap().as_str(), "+14255550103");

    let nobody = Lookup::Address(Email::parse_lenient("nobody@contoso.test").unwrap());
    assert_eq!(
        harness.adapter.resolve_user(&nobody, now).await.unwrap(),
        None
    );
    let unknown_id = Lookup::Id("00000000-0000-4000-8000-000000000000".parse().unwrap());
    assert_eq!(
        harness
            .adapter
            .resolve_user(&unknown_id, now)
            .await
            .unwrap(),
        None
    );
}
