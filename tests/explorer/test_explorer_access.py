"""The explorer and its files are for staff only."""

from tests.explorer.conftest import explorer_url


def test_someone_who_is_not_staff_is_sent_to_the_admin_login(outsider_client, strong_model, scenes):
    image = scenes.images.first()
    for url in (
        "/staff/explorer/",
        explorer_url(strong_model, f"item:{image.pk}"),
        "/staff/explorer/files/" + "a" * 64 + "/map.npy",
    ):
        response = outsider_client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_file_name_outside_the_cache_is_not_found(researcher_client):
    assert researcher_client.get("/staff/explorer/files/" + "a" * 64 + "/map.npy").status_code == 404
    assert researcher_client.get("/staff/explorer/files/" + "a" * 64 + "/..%2Fsecret").status_code == 404
    assert researcher_client.get("/staff/explorer/files/notakey/map.npy").status_code == 404


def test_the_admin_index_links_the_explorer(researcher_client):
    assert 'href="/staff/explorer/"' in researcher_client.get("/admin/").content.decode()
