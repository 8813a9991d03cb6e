-- Demo data for the local stack: a buyer, a seller, an admin, two listings and a pending order.
-- Fixed ids so the demo and tests can name them; safe to run again. The seller is one because the
-- server said so (app_metadata), as an admin-created account would be.
insert into auth.users (id, email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data) values
  ('00000000-0000-4000-8000-00000000b001', 'buyer@example.com', now(), '{"provider":"email"}', '{"display_name":"Bea Buyer"}'),
  ('00000000-0000-4000-8000-00000000c001', 'seller@example.com', now(), '{"provider":"email","role":"seller"}', '{"display_name":"Sam Seller"}'),
  ('00000000-0000-4000-8000-00000000a001', 'admin@example.com', now(), '{"provider":"email","role":"admin"}', '{"display_name":"Ada Admin"}')
on conflict (id) do nothing;

update public.profiles set role = 'admin' where id = '00000000-0000-4000-8000-00000000a001';

insert into public.listings (id, seller_id, title, price_amount, currency) values
  ('00000000-0000-4000-8000-0000000011a1', '00000000-0000-4000-8000-00000000c001', 'Handmade ceramic mug', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000011a2', '00000000-0000-4000-8000-00000000c001', 'Walnut cutting board', 6400, 'usd')
on conflict (id) do nothing;

insert into public.orders (id, buyer_id, listing_id) values
  ('00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-00000000b001', '00000000-0000-4000-8000-0000000011a1')
on conflict (id) do nothing;
